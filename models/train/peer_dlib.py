"""dlib's 68-point shape predictor with its own HOG detector: the evaluation's dlib peer.

Runs in a separate environment holding ``dlib`` (the ``dlib-bin`` wheel), numpy and OpenCV,
with ``shape_predictor_68_face_landmarks.dat`` (Debian's ``libdlib-data``). ``facestream
eval --dlib-python PY --dlib-model DAT`` starts it by path; it reads image paths, one per
line, on stdin and writes one JSON line per image: the 68 points of every face found, in
image pixels, with the detector's boxes.
"""

from __future__ import annotations

import json
import sys

import cv2
import dlib


def main() -> int:
    detector = dlib.get_frontal_face_detector()
    predictor = dlib.shape_predictor(sys.argv[1])
    for line in sys.stdin:
        path = line.rstrip("\n")
        bgr = cv2.imread(path, cv2.IMREAD_COLOR)
        faces = []
        if bgr is not None:
            rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
            # One upsampling step, as dlib's own landmark example does, finds smaller faces.
            for rect in detector(rgb, 1):
                shape = predictor(rgb, rect)
                faces.append(
                    {
                        "box": [rect.left(), rect.top(), rect.right(), rect.bottom()],
                        "points": [[p.x, p.y] for p in shape.parts()],
                    }
                )
        sys.stdout.write(json.dumps({"faces": faces}) + "\n")
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
