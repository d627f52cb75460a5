"""A model folder's network as Keras loads it (the training layer's side of :class:`superres.runs.ModelFolder`).

Prediction needs this only with ``--runtime keras``, or for a folder without a current ONNX export; fine-tuning
(``--init-from``) and the exporter load weights here.
"""

from pathlib import Path

import keras

from ..errors import UserError
from ..runs import ModelFolder, arch_keys
from . import build_model


def load_model(folder, which="best"):
    """The Keras network of a model folder's checkpoint, checked against the network its config describes.

    Parameters
    ----------
    folder : ModelFolder or path-like
        A path is opened as ``ModelFolder(folder, which)``.

    Returns
    -------
    keras.Model

    Raises
    ------
    UserError
        Weights that cannot be read, or that do not fit the network its ``config.json`` describes (another
        architecture or size): one line naming the folder.
    """
    folder = ModelFolder.of(folder, which)
    config, path = folder.config, folder.checkpoint
    if path.suffix == ".onnx":  # a folder shipped with its export alone: the Keras network from its weights
        from ..runtime import bilstm_from_onnx

        if config.get("arch") != "bilstm":
            raise UserError(f"{folder.path}: holds its ONNX export alone, which runs on --runtime onnx; Keras "
                            "needs its best.keras")
        try:
            return bilstm_from_onnx(config, path)
        except Exception as e:
            raise UserError(f"{path}: does not hold the weights of the network config.json describes "
                            f"({str(e).splitlines()[0][:200]}); restore the folder")
    try:
        model = keras.models.load_model(path, safe_mode=True, compile=False)
    except Exception as e:
        raise UserError(f"{path}: cannot be loaded ({str(e).splitlines()[0][:200]}); retrain the model")
    _check_weights(model, config, folder.path, path)
    return model


def _check_weights(model, config, model_dir, path):
    """Refuse weights that are not those of the network ``config`` describes (an edited or mixed-up folder)."""
    try:
        expected = build_model(config)
    except Exception as e:
        raise UserError(f"{model_dir}: config.json describes no network this version can build "
                        f"({str(e).splitlines()[0][:200]}); retrain the model")
    want = [tuple(w.shape) for w in expected.weights]
    got = [tuple(w.shape) for w in model.weights]
    if want != got or tuple(model.inputs[0].shape[1:]) != tuple(expected.inputs[0].shape[1:]):
        cfg = {k: config[k] for k in arch_keys(config["arch"]) if k in config and k != "seed"}
        raise UserError(f"{Path(path)}: these weights are not those of the network config.json describes "
                        f"({cfg}); the folder was edited or mixed up: retrain the model, or restore its config.json")
