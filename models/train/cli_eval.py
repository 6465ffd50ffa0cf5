"""Measure landmark error (NME) on a 68-point labelled set, with peers; prints JSON."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--variant", default="hrnet128_lite", choices=["hrnet128_lite", "hrnet128_w18"]
    )
    parser.add_argument("--labels", type=Path, required=True, help="CSV in the faces300w format")
    parser.add_argument("--images", type=Path, required=True, help="folder of the CSV's images")
    parser.add_argument("--split", default=None, help="only rows of this split (e.g. eval)")
    parser.add_argument(
        "--box-from-labels",
        action="store_true",
        help="crop from the labelled points' box (300-W protocol) instead of our detector",
    )
    parser.add_argument(
        "--detector",
        default="any",
        choices=["any", "full", "short"],
        help="BlazeFace variant (any: full range, then short range where it finds no face; "
        "the engine's default for tracking)",
    )
    parser.add_argument("--weights", default=None, help="safetensors file (default: shipped)")
    parser.add_argument(
        "--dlib-python", type=Path, default=None, help="python of an environment with dlib"
    )
    parser.add_argument(
        "--dlib-model", type=Path, default=None, help="shape_predictor_68_face_landmarks.dat"
    )
    parser.add_argument("--render-worst", type=int, default=0, help="draw the N worst faces")
    parser.add_argument("--render-dir", type=Path, default=Path("docs/images"))


def run(args: argparse.Namespace) -> int:
    from facestream.models.train.evaluate import evaluate

    json.dump(evaluate(args), sys.stdout, indent=1)
    sys.stdout.write("\n")
    return 0
