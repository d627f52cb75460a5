#!/usr/bin/env python3
"""Write the ONNX export beside a model folder's best checkpoint, as training writes it for a new one.

Usage: export_onnx.py MODEL_DIR [MODEL_DIR ...]

For folders trained before their architecture's graph was exported on save (superres.runtime.write_onnx:
``best.onnx``, checked against the Keras network, tied to the checkpoint by its SHA-256). Prints the largest
difference from the Keras network found on the probe inputs.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from superres.models.loading import load_model  # noqa: E402
from superres.runs import ModelFolder  # noqa: E402
from superres.runtime import check_export, core_file, export_graph, write_onnx  # noqa: E402


def main(argv):
    if not argv:
        sys.exit(__doc__)
    for path in argv:
        folder = ModelFolder(path)
        model, config, checkpoint = load_model(folder), folder.config, folder.checkpoint
        write_onnx(model, config, checkpoint)
        err = check_export(model, config, export_graph(model, config).SerializeToString())
        print(f"{core_file(checkpoint)}: {config['arch']}, largest difference from Keras {err:.2g} of its output")


if __name__ == "__main__":
    main(sys.argv[1:])
