"""Reading an uploaded file from a request, within the size limit, before anything is decoded.

Accepted: ``multipart/form-data`` with the file in field ``file`` (what a browser form sends), or
the raw bytes as the body with ``Content-Type: audio/*`` or ``application/octet-stream`` (or no
Content-Type). A declared Content-Length over the limit is refused before the body is read; an
undeclared (chunked) body is counted as it arrives and refused as soon as it passes the limit.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

from wavetag.serve.service import PayloadTooLarge, RequestError, UnsupportedMedia

FIELD = "file"
RAW_TYPES = ("application/octet-stream", "")
MULTIPART = "multipart/form-data"
MULTIPART_SLACK_BYTES = 64 * 1024  # boundaries and part headers around the file


@dataclass
class Upload:
    name: str
    data: bytes
    content_type: str


async def read_upload(request, *, max_bytes: int) -> Upload:
    """The uploaded file of ``request`` (a Starlette `Request`); raises `PayloadTooLarge` (413),
    `UnsupportedMedia` (415) or `RequestError` (422) with a message saying what to send instead."""
    mime = request.headers.get("content-type", "").split(";")[0].strip().lower()
    multipart = mime == MULTIPART
    if not (multipart or mime in RAW_TYPES or mime.startswith("audio/")):
        raise UnsupportedMedia(
            f"Content-Type {mime!r} is not accepted; send the audio file as multipart/form-data (field '{FIELD}') "
            "or as the raw request body with Content-Type audio/wav (audio/flac, audio/ogg, audio/mpeg) or "
            "application/octet-stream"
        )
    limit = max_bytes + (MULTIPART_SLACK_BYTES if multipart else 0)
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise _too_large(int(declared), max_bytes)
    name = request.query_params.get("filename") or "upload"
    if not multipart:
        chunks = [chunk async for chunk in _capped(request.stream(), limit, max_bytes)]
        return Upload(name, b"".join(chunks), mime or "application/octet-stream")
    return await _multipart(request, limit, max_bytes)


async def _multipart(request, limit: int, max_bytes: int) -> Upload:
    from starlette.formparsers import MultiPartException, MultiPartParser

    parser = MultiPartParser(request.headers, _capped(request.stream(), limit, max_bytes), max_files=4, max_fields=16)
    try:
        form = await parser.parse()
    except MultiPartException as exc:
        raise RequestError(
            f"the multipart/form-data body cannot be read ({exc.message}); send the file in field '{FIELD}'"
        ) from None
    try:
        parts = form.getlist(FIELD)
        if len(parts) > 1:
            raise RequestError(
                f"the multipart upload has {len(parts)} fields named '{FIELD}'; expected exactly one "
                f"(one file per request: send each file in its own request)"
            )
        part = form.get(FIELD)
        if part is None:
            fields = ", ".join(repr(k) for k in form.keys()) or "none"
            raise RequestError(
                f"the multipart upload has no field '{FIELD}' (fields received: {fields}); "
                f"send the audio file as field '{FIELD}'"
            )
        if isinstance(part, str):
            raise RequestError(f"multipart field '{FIELD}' holds text, not a file; attach the audio file itself")
        data = await part.read()
        if len(data) > max_bytes:
            raise _too_large(len(data), max_bytes)
        return Upload(part.filename or "upload", data, part.content_type or "application/octet-stream")
    finally:
        await form.close()


async def _capped(stream: AsyncIterator[bytes], limit: int, max_bytes: int) -> AsyncIterator[bytes]:
    total = 0
    async for chunk in stream:
        total += len(chunk)
        if total > limit:
            raise _too_large(total, max_bytes, partial=True)
        yield chunk


def _too_large(size: int, max_bytes: int, *, partial: bool = False) -> PayloadTooLarge:
    got = f"more than {size:,}" if partial else f"{size:,}"
    return PayloadTooLarge(
        f"upload of {got} bytes; the limit is {max_bytes:,} bytes ({max_bytes / 2**20:g} MiB); "
        "send a shorter or compressed recording (FLAC, OGG), or start the server with a larger --max-upload-mb"
    )
