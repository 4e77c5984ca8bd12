"""How large text (request and response bodies, span attributes) is compressed at rest.

zstd with a built-in raw-content dictionary: bodies and attribute maps are small (about a kilobyte),
where a plain compressor spends most of its output re-learning JSON keys and attribute names. The
dictionary (``compression_dictionary.txt``) holds only that structure: JSON skeletons of provider bodies
and the attribute keys of the OpenTelemetry GenAI, OpenLLMetry and OpenInference conventions, never
sample prose. zstd also releases the GIL, so the writer thread compresses while requests are decoded.

Every blob starts with a one-byte format tag so the dictionary can change without rewriting old rows.
"""

from __future__ import annotations

import threading
from functools import cache
from importlib import resources

import zstandard

_FORMAT_ZSTD_DICT_V1 = 1
_LEVEL = 3
_local = threading.local()


@cache
def _dictionary() -> zstandard.ZstdCompressionDict:
    data = resources.files("heliograph.storage").joinpath("compression_dictionary.txt").read_bytes()
    return zstandard.ZstdCompressionDict(data, dict_type=zstandard.DICT_TYPE_RAWCONTENT)


def _codecs() -> tuple[zstandard.ZstdCompressor, zstandard.ZstdDecompressor]:
    # zstandard's (de)compressor objects must not be shared between threads.
    codecs: tuple[zstandard.ZstdCompressor, zstandard.ZstdDecompressor] | None = getattr(
        _local, "codecs", None
    )
    if codecs is None:
        dictionary = _dictionary()
        compressor = zstandard.ZstdCompressor(
            level=_LEVEL, dict_data=dictionary, write_checksum=False, write_dict_id=False
        )
        codecs = (compressor, zstandard.ZstdDecompressor(dict_data=dictionary))
        _local.codecs = codecs
    return codecs


def compress_text(text: str) -> bytes:
    return bytes((_FORMAT_ZSTD_DICT_V1,)) + _codecs()[0].compress(text.encode("utf-8"))


def compress_texts(texts: list[str]) -> list[bytes]:
    """``compress_text`` of many texts in one call: the GIL is released once for the whole list, not once
    per text (each hand-back of the GIL can wait behind the thread decoding the next request)."""
    if len(texts) < 2:
        return [compress_text(text) for text in texts]
    frames = _codecs()[0].multi_compress_to_buffer([text.encode("utf-8") for text in texts])
    tag = bytes((_FORMAT_ZSTD_DICT_V1,))
    return [tag + frames[index].tobytes() for index in range(len(texts))]


def decompress_text(blob: bytes) -> str:
    if not blob or blob[0] != _FORMAT_ZSTD_DICT_V1:
        raise ValueError("unknown compressed-text format")
    return _codecs()[1].decompress(blob[1:]).decode("utf-8")
