"""The code MLflow runs to build an rl8-core model's pyfunc wrapper (MLflow's "models from code").

``rl8_core.mlflow.save_model`` hands MLflow this file instead of a pickled
object, so loading a model unpickles nothing of ours: the wrapper is made
here and restores the RLModule from the model's ``module`` artifact.
"""

from mlflow.models import set_model

from rl8_core.mlflow import RLModulePythonModel

set_model(RLModulePythonModel())
