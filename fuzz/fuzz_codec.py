"""Atheris harness: ``vfl.codec.decode`` on arbitrary bytes.

Only :class:`~vfl.exceptions.CodecError` may come out of ``decode``; a frame that
decodes must encode again.  Anything else is a crash that libFuzzer reports (with
the input, in ``crash-*``).  See ``fuzz/README.md``.
"""

from __future__ import annotations

import sys

import atheris

with atheris.instrument_imports(include=["crypto", "protocols", "vfl"]):
    from common import KEYRING, fuzzer_arguments, sample_frames

    from vfl.exceptions import CodecError
    from vfl.runtime import codec


def fuzz_one_input(data: bytes) -> None:
    """Decode ``data``; only a CodecError may come out."""
    try:
        message = codec.decode(data, KEYRING, allow_weak_keys=True)
    except CodecError:
        return
    codec.encode(message)


def main() -> None:
    """Seed the corpus, then fuzz (libFuzzer options on the command line)."""
    atheris.Setup(fuzzer_arguments(sys.argv, "codec", sample_frames()), fuzz_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
