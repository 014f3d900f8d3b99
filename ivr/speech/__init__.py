"""Speech prompts: text rendered by espeak-ng into 8 kHz WAV files Asterisk can play."""

from ivr.speech.audio import InvalidWavError, WavInfo, verify_speech_wav, wav_info
from ivr.speech.prompts import PromptCache
from ivr.speech.tts import PromptRenderError, SpeechRenderer

__all__ = [
    "InvalidWavError",
    "PromptCache",
    "PromptRenderError",
    "SpeechRenderer",
    "WavInfo",
    "verify_speech_wav",
    "wav_info",
]
