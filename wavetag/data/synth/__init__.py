"""Built-in synthetic data sets: no download, no GPU.

``synth_speech_commands`` builds a Speech Commands-style keyword set spoken by many synthetic
speakers (espeak-ng from the espeakng-loader wheel; Debian flite and festival voices and Piper
neural voices when installed), with `which_set` splits and a ``_background_noise_`` folder.
"""

from wavetag.data.synth.speech_commands import (
    AUXILIARY_WORDS,
    COMMAND_WORDS,
    DEFAULT_WORDS,
    KNOWN_WORDS,
    SynthSummary,
    plan_speakers,
    synth_speech_commands,
    which_set,
)

__all__ = [
    "synth_speech_commands",
    "SynthSummary",
    "which_set",
    "plan_speakers",
    "COMMAND_WORDS",
    "AUXILIARY_WORDS",
    "DEFAULT_WORDS",
    "KNOWN_WORDS",
]
