"""``python -m nnmat info``: print nnmat.config()."""
import sys


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv not in ([], ["info"]):
        print("usage: python -m nnmat info", file=sys.stderr)
        return 2
    import nnmat

    for key, value in nnmat.config().items():
        print(f"{key:14s} {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
