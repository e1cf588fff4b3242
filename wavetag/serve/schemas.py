"""Response bodies of the HTTP API (they document themselves in the OpenAPI page at /docs)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

Label = str | list[str]  # multi-label models answer with the list of labels present

# The request body of /v1/classify and /v1/detect, for the OpenAPI page (the routes read it raw).
AUDIO_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": "An audio file (WAV, FLAC, OGG/Vorbis, MP3; any rate, any channel count): as the multipart "
        "field 'file', or as the raw body with Content-Type audio/* or application/octet-stream.",
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {"file": {"type": "string", "format": "binary"}},
                }
            },
            "audio/wav": {"schema": {"type": "string", "format": "binary"}},
            "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
        },
    }
}


class Problem(BaseModel):
    detail: str = Field(description="What was received, what was expected and what to do.")
    error: str = Field(description="The error class, e.g. PayloadTooLarge, UnsupportedMedia, AudioError.")


ERRORS: dict[int | str, dict[str, Any]] = {
    413: {
        "model": Problem,
        "description": "Upload larger than the size limit, or audio longer than the duration limit",
    },
    415: {"model": Problem, "description": "Wrong Content-Type, or bytes that are not a readable audio file"},
    422: {"model": Problem, "description": "Empty upload, unusable audio, or an option out of range"},
}


class ScoredLabel(BaseModel):
    label: str
    score: float = Field(description="Probability in [0, 1].")


class InputInfo(BaseModel):
    sample_rate: int = Field(description="Rate of the uploaded file in Hz (0 if the container does not say).")
    channels: int = Field(description="Channels of the uploaded file; they are mixed down to mono.")
    format: str
    resampled_to: int = Field(description="The model's rate in Hz.")


class WindowResult(BaseModel):
    start_s: float
    end_s: float
    label: Label
    score: float


class ClassifyResult(BaseModel):
    source: str | None
    label: Label = Field(description="Top class (multi-label: the classes at probability >= 0.5).")
    score: float
    duration_s: float
    top_k: list[ScoredLabel]
    windows: list[WindowResult] | None = None
    warnings: list[str] = Field(
        default_factory=list,
        description="One line each where the answer may be wrong: "
        "audio shorter than its header says, or far shorter than the model's window.",
    )
    input: InputInfo


class EventResult(BaseModel):
    label: str
    start_s: float
    end_s: float
    score: float
    fired_s: float | None = Field(None, description="When a live detector would have fired.")


class DetectResult(BaseModel):
    source: str | None
    duration_s: float
    events: list[EventResult]
    settings: dict[str, Any]
    warnings: list[str] = Field(
        default_factory=list,
        description="One line each where the answer may be wrong (audio shorter than its header says).",
    )
    input: InputInfo


class ModelInfo(BaseModel):
    name: str | None
    task: str
    labels: list[str]
    sample_rate: int
    window_s: float
    backend: str
    frontend: dict[str, Any] | None
    num_params: int | None
    model_dir: str | None
    limits: dict[str, int | float]


class Health(BaseModel):
    status: str
    model: str | None
    uptime_s: float
    requests: dict[str, int] = Field(description="Requests answered per route, and rejected (4xx/5xx).")
    streams: dict[str, int] = Field(
        default_factory=dict, description="/v1/stream WebSockets: open now, done, rejected (closed on bad input)."
    )
    batching: dict[str, int | float] = Field(description="Forward passes, calls and rows batched since start.")
