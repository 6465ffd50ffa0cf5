"""The facestream command line."""


def main() -> None:
    print("facestream")
