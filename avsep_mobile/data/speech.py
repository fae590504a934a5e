"""A pool of real synthesised speech from many voices, cached on disk.

Speakers are espeak-ng voices (language x variant, each with its own pitch and
rate) plus a minority of festival voices, which sound more natural but take
~0.5 s per sentence. Text is pseudo-sentences: English words for English
voices, syllables from per-language letter sets for the rest, so each voice
reads with its own language's rules. Everything follows from the seed, so a
pool is rebuilt identically on any machine with the same voices installed.
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from ..atomic import atomic_write_bytes
from ..audio import read_wav

SAMPLE_RATE = 16000
DEFAULT_CACHE = Path(os.environ.get("AVSEP_CACHE", Path.home() / ".cache" / "avsep_mobile"))
# eval utterances come from their own pool, so their sentences are never trained on
EVAL_POOL_SEED = 999_983
FESTIVAL_SHARE = 0.1  # festival is ~20x slower than espeak-ng
MIN_SECONDS = 0.6  # shorter results (a voice that skipped most of the text) are re-drawn

ESPEAK_LANGS = ("en", "en-us", "en-gb-x-rp", "en-gb-scotland", "en-029", "de", "fr", "es", "es-419", "it", "pt",
                "pt-br", "nl", "pl", "sv", "da", "nb", "fi", "cs", "hu", "ro", "tr", "id", "hr", "ca")
ESPEAK_VARIANTS = ("m1", "m2", "m3", "m4", "m5", "m6", "m7", "f1", "f2", "f3", "f4", "f5", "klatt", "klatt2",
                   "klatt4", "Andy", "Annie", "aunty", "belinda", "benjamin", "david", "ed", "linda", "max",
                   "michel", "paul", "quincy", "rob", "steph", "travis", "victor", "grandma", "grandpa")
# festival voice -> package that provides it; only the installed ones are used
FESTIVAL_VOICES = {"kal_diphone": "festvox-kallpc16k", "cmu_us_slt_arctic_hts": "festvox-us-slt-hts",
                   "ked_diphone": "festvox-kdlpc16k", "rab_diphone": "festvox-rablpc16k"}

WORDS = """the be to of and a in that have it for not on with he as you do at this but his by from they we say
her she or an will my one all would there their what so up out if about who get which go me when make can like
time no just him know take people into year your good some could them see other than then now look only come its
over think also back after use two how our work first well way even new want because any these give day most us
is are was were has had been did said made went came took saw knew found told asked felt left kept brought began
seemed turned heard thought called moved lived played tried need house world school water room mother father
family friend child woman man hand eye face head door road city country night morning evening week month money
story picture music paper letter garden window table chair book word name place home car train boat river sea
mountain tree flower grass bird dog cat horse fish apple bread milk coffee tea sugar salt rain snow wind sun moon
star sky fire light dark cold warm hot small big long short high low old young early late happy sad quiet loud
fast slow easy hard strong weak clean dirty rich poor full empty open close begin end stop start walk run sit
stand sleep wake eat drink speak listen read write sing dance laugh cry smile wait help carry pull push throw
catch buy sell pay send bring hold wear break build cut draw drive fly swim climb fall grow learn teach remember
forget understand believe hope wish love hate feel always never often sometimes usually again today tomorrow
yesterday here there everywhere nothing something everything nobody somebody everybody very really quite almost
perhaps maybe still already soon together before behind between under above around through across along near
far inside outside red blue green yellow white black brown orange purple seven eight nine ten hundred thousand
little second third last next every each many much more less few several whole half kitchen bottle basket
pocket ticket station market village island forest desert valley bridge castle tower church palace doctor
teacher farmer driver singer painter soldier sailor captain neighbour stranger visitor question answer problem
reason moment minute hour summer winter spring autumn holiday birthday journey weather colour number corner
middle bottom surface edge shadow silence voice noise sound song dream idea plan secret promise""".split()

# onsets, vowels, codas: enough of each language's spelling for espeak-ng to read it like that language
SYLLABLES = {
    "de": ("b d f g h k l m n p r s t w z sch ch st sp pf kn br tr gr fl", "a e i o u ei au ie ä ö ü", "n r s t ch l m ng nd st"),
    "fr": ("b d f g j l m n p r s t v ch qu pl tr gr br cr", "a e i o u ou ai eau on an in eu é è", "n r s l t x"),
    "es": ("b c d f g j l m n p r s t v ll ch br tr pl gr", "a e i o u ue ie ia", "n s r l z"),
    "it": ("b c d f g l m n p r s t v z ch gh gl sc tr pr", "a e i o u ia io", "n l r"),
    "pt": ("b c d f g j l m n p r s t v ch lh nh tr pr", "a e i o u ão ei ou ã é", "s r l m"),
    "nl": ("b d f g h j k l m n p r s t v w z sch kr st", "a e i o u aa ee oo ij ui oe eu", "n r s t k l"),
    "pl": ("b c d f g k l m n p r s t w z sz cz rz ch dz ł ś", "a e i o u y ą ę ó", "n k m ć ż"),
    "sv": ("b d f g h j k l m n p r s t v sk st kr tj", "a e i o u y å ä ö", "n r t k ll ng"),
    "da": ("b d f g h j k l m n p r s t v sk st", "a e i o u y æ ø å", "n r d l g"),
    "nb": ("b d f g h j k l m n p r s t v sk kj st", "a e i o u y æ ø å", "n r t l g"),
    "fi": ("h j k l m n p r s t v", "a e i o u y ä ö aa ii uu ai", "n s t l"),
    "cs": ("b c d h j k l m n p r s t v z č ř š ž ch", "a e i o u y á é í ů", "n k t m š"),
    "sk": ("b c d h j k l m n p r s t v z č š ž", "a e i o u y á é ô", "n k t m"),
    "hu": ("b d f g h j k l m n p r s t v z cs sz zs gy ny", "a e i o u á é ö ü ő", "n t k l r sz"),
    "ro": ("b c d f g j l m n p r s t v z ș ț", "a e i o u ă â î ea oa", "n r t l"),
    "tr": ("b c d f g h k l m n p r s t v y z ç ş", "a e i o u ı ö ü", "n r k l m"),
    "id": ("b c d g h j k l m n p r s t w ng ny", "a e i o u ai au", "n ng k t r"),
    "hr": ("b c d g h j k l m n p r s t v z č š ž", "a e i o u", "n k t m"),
    "ca": ("b c d f g l m n p r s t v x ll ny", "a e i o u à è ò", "n r s l t"),
}


@dataclass
class Utterance:
    audio: np.ndarray  # (n,) float32 at 16 kHz, peak 0.9
    voice: str  # speaker id: equal ids sound like the same person
    text: str


@dataclass(frozen=True)
class _Speaker:
    voice: str
    engine: str  # "espeak" or "festival"
    name: str  # espeak "lang+variant" or festival voice
    lang: str
    pitch: int
    rate: int


def installed_festival_voices() -> list[str]:
    root = Path("/usr/share/festival/voices")
    return [v for v in FESTIVAL_VOICES if any(root.glob(f"*/{v}"))]


def _speakers(rng: np.random.Generator, count: int) -> list[_Speaker]:
    """Distinct (language, variant) espeak speakers, then the festival voices."""
    combos = [(lang, var) for lang in ESPEAK_LANGS for var in ESPEAK_VARIANTS]
    pick = rng.choice(len(combos), size=min(count, len(combos)), replace=False)
    out = []
    for k in pick:
        lang, var = combos[k]
        pitch, rate = int(rng.integers(20, 81)), int(rng.integers(120, 201))
        out.append(_Speaker(f"espeak:{lang}+{var}:p{pitch}:s{rate}", "espeak", f"{lang}+{var}", lang, pitch, rate))
    out += [_Speaker(f"festival:{v}", "festival", v, "en", 0, 0) for v in installed_festival_voices()]
    return out


def _sentence(rng: np.random.Generator, lang: str) -> str:
    n_words = int(rng.integers(5, 13))
    base = lang.split("-")[0]
    if base not in SYLLABLES:  # English voices
        words = [WORDS[i] for i in rng.integers(0, len(WORDS), n_words)]
    else:
        onsets, vowels, codas = (s.split() for s in SYLLABLES[base])
        words = []
        for _ in range(n_words):
            word = ""
            for _ in range(rng.integers(1, 4)):  # (C)V(C) syllables, mostly open
                onset = onsets[rng.integers(len(onsets))] if rng.random() < 0.85 else ""
                coda = codas[rng.integers(len(codas))] if rng.random() < 0.35 else ""
                word += onset + vowels[rng.integers(len(vowels))] + coda
            words.append(word)
    text = " ".join(words)
    if n_words > 8:  # a comma gives a phrase break, as in read speech
        cut = text.index(" ", len(text) // 2)
        text = text[:cut] + "," + text[cut:]
    return text[0].upper() + text[1:] + "."


def trim_silence(x: np.ndarray, sample_rate: int = SAMPLE_RATE, floor_db: float = -40.0,
                 max_gap_s: float = 0.25, keep_gap_s: float = 0.12) -> np.ndarray:
    """Cut leading/trailing silence and shorten pauses longer than max_gap_s."""
    hop = sample_rate // 100
    n = len(x) // hop
    if n == 0:
        return x
    rms = np.sqrt(np.mean(x[: n * hop].reshape(n, hop) ** 2, axis=1))
    active = rms > rms.max() * 10 ** (floor_db / 20)
    idx = np.flatnonzero(active)
    if idx.size == 0:
        return x[:0]
    first, last = max(idx[0] - 3, 0), min(idx[-1] + 4, n)  # 30-40 ms margins keep the onsets
    keep = np.ones(n, bool)
    keep[:first], keep[last:] = False, False
    gaps = np.flatnonzero(np.diff(idx) > max_gap_s * 100)
    for g in gaps:  # pauses: keep keep_gap_s of each, split around the middle
        a, b = idx[g] + 1, idx[g + 1]
        half = int(keep_gap_s * 100) // 2
        keep[a + half : b - half] = False
    return x[: n * hop].reshape(n, hop)[keep].reshape(-1)


def _synthesise(spk: _Speaker, text: str, rate_jitter: int, tmp: Path) -> np.ndarray:
    wav = tmp / "out.wav"
    if spk.engine == "espeak":
        cmd = ["espeak-ng", "-v", spk.name, "-p", str(spk.pitch), "-s", str(spk.rate + rate_jitter), "-w", str(wav), text]
        subprocess.run(cmd, check=True, capture_output=True, timeout=60)
    else:
        (tmp / "in.txt").write_text(text)
        cmd = ["text2wave", "-eval", f"(voice_{spk.name})", "-o", str(wav), str(tmp / "in.txt")]
        subprocess.run(cmd, check=True, capture_output=True, timeout=120)
    x, _ = read_wav(wav, SAMPLE_RATE)  # espeak-ng writes 22.05 kHz, HTS voices 32 kHz
    return x


def _make_utterance(spk: _Speaker, seed: int, index: int) -> Utterance:
    for attempt in range(4):
        rng = np.random.default_rng([seed, index, attempt])
        text = _sentence(rng, spk.lang)
        with tempfile.TemporaryDirectory(prefix="avsep_tts_") as tmp:
            x = trim_silence(_synthesise(spk, text, int(rng.integers(-10, 11)), Path(tmp)))
        if len(x) >= MIN_SECONDS * SAMPLE_RATE:
            # quantised as the cache stores it, so a fresh pool equals a loaded one
            pcm = np.round(0.9 * x / np.max(np.abs(x)) * 32767)
            return Utterance((pcm / 32767).astype(np.float32), spk.voice, text)
    raise RuntimeError(f"voice {spk.voice} produced no usable speech: check `espeak-ng --voices` / festival voices")


def _check_engines(need_festival: bool) -> None:
    if shutil.which("espeak-ng") is None:
        raise FileNotFoundError("speech synthesis (`avsep data make`, training, the built-in eval set) needs espeak-ng, "
                                "which is not on PATH: `sudo apt-get install espeak-ng` (Debian/Ubuntu) or "
                                "`brew install espeak-ng` (macOS); int8 exports do not need it")
    if need_festival and shutil.which("text2wave") is None:
        raise FileNotFoundError("festival voices are installed but text2wave is not: `apt-get install festival`")


def synthesise_pool(count: int, seed: int, progress: bool = True, workers: int = 2) -> list[Utterance]:
    rng = np.random.default_rng([seed, 0x5eec4])
    speakers = _speakers(rng, max(8, count // 3))  # ~3 utterances per espeak speaker
    espeak = [s for s in speakers if s.engine == "espeak"]
    festival = [s for s in speakers if s.engine == "festival"]
    _check_engines(bool(festival))
    plan = [festival[rng.integers(len(festival))] if festival and rng.random() < FESTIVAL_SHARE
            else espeak[rng.integers(len(espeak))] for _ in range(count)]
    # threads suffice: the work happens in the synthesiser subprocesses
    with ThreadPoolExecutor(workers) as ex:
        jobs = ex.map(lambda args: _make_utterance(*args), [(spk, seed, i) for i, spk in enumerate(plan)])
        return list(tqdm(jobs, total=count, desc="synthesise speech", disable=not progress, dynamic_ncols=True))


def _save(path: Path, pool: list[Utterance], voices: list[str]) -> None:
    buf = io.BytesIO()
    # int16 halves the cache; the synthesisers' own output is 16-bit anyway
    np.savez(buf, audio=np.concatenate([np.round(u.audio * 32767).astype(np.int16) for u in pool]),
             lengths=np.array([len(u.audio) for u in pool], np.int64), voice=np.array([u.voice for u in pool]),
             text=np.array([u.text for u in pool]), festival=np.array(voices, dtype=str))
    atomic_write_bytes(path, buf.getvalue())


def _load(path: Path, voices: list[str]) -> list[Utterance] | None:
    try:
        with np.load(path, allow_pickle=False) as z:
            if list(z["festival"]) != voices:  # voices installed since: rebuild so the pool matches a fresh one
                return None
            audio = (z["audio"] / 32767).astype(np.float32)
            ends = np.cumsum(z["lengths"])
            return [Utterance(a, str(v), str(t)) for a, v, t in zip(np.split(audio, ends[:-1]), z["voice"], z["text"])]
    except (OSError, ValueError, KeyError):  # a damaged cache is just rebuilt
        return None


def build_pool(cache_dir=None, count: int = 400, seed: int = 0, progress: bool = True) -> list[Utterance]:
    """count utterances for seed, from cache_dir/pool_<seed>_<count>.npz if present."""
    if count < 1:
        raise ValueError(f"pool size must be at least 1, got {count}")
    path = Path(cache_dir or DEFAULT_CACHE) / f"pool_{seed}_{count}.npz"
    voices = installed_festival_voices()
    if path.is_file() and (pool := _load(path, voices)) is not None:
        return pool
    pool = synthesise_pool(count, seed, progress)
    _save(path, pool, voices)
    return pool


def build_eval_pool(cache_dir=None, count: int = 120, progress: bool = True) -> list[Utterance]:
    """Utterances whose sentences no training pool contains (voices may repeat)."""
    return build_pool(cache_dir, count, EVAL_POOL_SEED, progress)
