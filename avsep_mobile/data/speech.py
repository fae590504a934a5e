"""A pool of real synthesised speech from many voices, cached on disk.

Voices come in families. Training uses espeak-ng (language x variant, each
with its own pitch and rate), mbrola's diphone voices through espeak-ng where
installed, and festival's diphone/HTS voices. One family is held out and only
evaluated: flite's CMU ARCTIC speakers (awb, rms, slt, kal), so `avsep eval`
can report voices no model was trained on; festival's kal_diphone and
cmu_us_slt_arctic_hts are the same two people, so training skips them.

Text is pseudo-sentences: English words for English voices, syllables from
per-language letter sets for the rest, so each voice reads with its own
language's rules. Everything follows from the seed and the installed voices,
so a pool is rebuilt identically on any machine with the same voices.

A pool is built once into CACHE/pool-<hash>/ (hash of everything that decides
its content), under a file lock, so several ranks or runs that ask for it at
once synthesise it once; readers memory-map its int16 audio.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from ..atomic import atomic_dir
from ..audio import read_wav

SAMPLE_RATE = 16000
DEFAULT_CACHE = Path(os.environ.get("AVSEP_CACHE", Path.home() / ".cache" / "avsep"))
POOL_VERSION = 2  # bump when synthesis changes, so old caches are not reused
# eval utterances come from their own pools, so their sentences are never trained on
EVAL_POOL_SEED = 999_983
UNSEEN_VOICE_POOL_SEED = 999_979
EVAL_POOL_SIZE = 120  # utterances in each held-out pool
FAMILIES = ("train", "heldout")
FESTIVAL_SHARE = 0.35  # festival is ~10x slower than espeak-ng, but its voices are cut from recordings
MIN_SECONDS = 0.6  # shorter results (a voice that skipped most of the text) are re-drawn

ESPEAK_LANGS = ("en", "en-us", "en-gb-x-rp", "en-gb-scotland", "en-029", "en-us-nyc", "en-gb-x-gbclan", "de", "fr",
                "fr-be", "es", "es-419", "it", "pt", "pt-br", "nl", "pl", "sv", "da", "nb", "fi", "cs", "sk", "sl",
                "hu", "ro", "tr", "id", "hr", "ca", "et", "lv", "af", "cy", "eu", "sw", "is")
ESPEAK_VARIANTS = ("m1", "m2", "m3", "m4", "m5", "m6", "m7", "f1", "f2", "f3", "f4", "f5", "klatt", "klatt2",
                   "klatt4", "Andy", "Annie", "aunty", "belinda", "benjamin", "david", "ed", "linda", "max",
                   "michel", "paul", "quincy", "rob", "steph", "travis", "victor", "grandma", "grandpa")
# training festival voice -> (language of its text, Debian package); only installed ones are used
FESTIVAL_VOICES = {"ked_diphone": ("en", "festvox-kdlpc16k"), "lp_diphone": ("it", "festvox-italp16k"),
                   "pc_diphone": ("it", "festvox-itapc16k"), "hy_fi_mv_diphone": ("fi", "festvox-suopuhe-mv"),
                   "suo_fi_lj_diphone": ("fi", "festvox-suopuhe-lj"), "czech_dita": ("cs", "festvox-czech-dita"),
                   "czech_machac": ("cs", "festvox-czech-machac"), "upc_ca_ona_hts": ("ca", "festvox-ca-ona-hts"),
                   "czech_ph": ("cs", "festvox-czech-ph"), "czech_krb": ("cs", "festvox-czech-krb"),
                   "hindi_NSK_diphone": ("hi", "festvox-hi-nsk"), "msu_ru_nsh_clunits": ("ru", "festvox-ru")}
# The unseen-sentence set stays the one every earlier score was measured on:
# the first eight festival voices at a 20 % share, whatever else is installed.
EVAL_FESTIVAL_VOICES = ("ked_diphone", "lp_diphone", "pc_diphone", "hy_fi_mv_diphone", "suo_fi_lj_diphone",
                        "czech_dita", "czech_machac", "upc_ca_ona_hts")
EVAL_FESTIVAL_SHARE = 0.2
# mbrola voice -> espeak-ng language (Debian contrib/non-free: mbrola, mbrola-us1, ...)
MBROLA_VOICES = {"us1": "en-us", "us2": "en-us", "us3": "en-us", "en1": "en", "de1": "de", "de2": "de", "fr1": "fr",
                 "fr4": "fr", "es1": "es", "it3": "it", "nl2": "nl", "pl1": "pl", "sw1": "sv"}
# the held-out family: flite's CMU ARCTIC voices (Debian package flite)
FLITE_VOICES = ("awb", "rms", "slt", "kal16")

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
    "ru": ("б в г д ж з к л м н п р с т ф х ч ш бр гр др кр пр ст тр", "а е и о у ы я ю э", "н р с т л к м й"),
    # vowel signs (matras) need a consonant before them: ONSET_ALWAYS
    "hi": ("क ख ग च ज ट ड त द न प ब म य र ल व स ह", "ा ि ी ु ू े ै ो ौ", "न र म ल स"),
}
ONSET_ALWAYS = {"hi"}


@dataclass
class Utterance:
    audio: np.ndarray  # (n,) float32 at 16 kHz, peak 0.9
    voice: str  # speaker id: equal ids sound like the same person
    text: str


@dataclass(frozen=True)
class _Speaker:
    voice: str
    engine: str  # "espeak", "festival" or "flite"
    name: str  # espeak "lang+variant" or "mb-us1", festival or flite voice
    lang: str
    pitch: int
    rate: int


def installed_festival_voices() -> list[str]:
    root = Path("/usr/share/festival/voices")
    return [v for v in FESTIVAL_VOICES if any(root.glob(f"*/{v}"))]


def installed_mbrola_voices() -> list[str]:
    return [v for v in MBROLA_VOICES if Path(f"/usr/share/mbrola/{v}/{v}").is_file()]


def installed_flite_voices() -> list[str]:
    if shutil.which("flite") is None:
        return []
    listed = subprocess.run(["flite", "-lv"], capture_output=True, text=True, timeout=30).stdout.split()
    return [v for v in FLITE_VOICES if v in listed]


def installed_voices() -> dict[str, list[str]]:
    """The engines' voices this machine has, which (with the seed) decide a pool."""
    return {"festival": installed_festival_voices(), "mbrola": installed_mbrola_voices(),
            "flite": installed_flite_voices()}


def _speakers(rng: np.random.Generator, count: int, family: str, voices: dict) -> tuple[list[_Speaker], list[_Speaker]]:
    """(fast speakers, festival speakers) of a family. Training: distinct
    (language, variant) espeak speakers and four pitch/rate versions of each
    mbrola voice, then the festival voices. Held out: the flite voices."""
    if family == "heldout":
        if len(voices["flite"]) < 2:
            raise FileNotFoundError("the held-out voices (`avsep eval`, `avsep quantize` scoring) need flite: "
                                    "`sudo apt-get install flite` (Debian/Ubuntu) or `brew install flite` (macOS)")
        return [_Speaker(f"flite:{v}", "flite", v, "en", 0, 0) for v in voices["flite"]], []
    combos = [(lang, var) for lang in ESPEAK_LANGS for var in ESPEAK_VARIANTS]
    pick = rng.choice(len(combos), size=min(count, len(combos)), replace=False)
    fast = []
    for k in pick:
        lang, var = combos[k]
        pitch, rate = int(rng.integers(20, 81)), int(rng.integers(120, 201))
        fast.append(_Speaker(f"espeak:{lang}+{var}:p{pitch}:s{rate}", "espeak", f"{lang}+{var}", lang, pitch, rate))
    for v in voices["mbrola"]:
        for _ in range(4):
            pitch, rate = int(rng.integers(30, 71)), int(rng.integers(130, 191))
            fast.append(_Speaker(f"mbrola:{v}:p{pitch}:s{rate}", "espeak", f"mb-{v}", MBROLA_VOICES[v], pitch, rate))
    return fast, [_Speaker(f"festival:{v}", "festival", v, FESTIVAL_VOICES[v][0], 0, 0) for v in voices["festival"]]


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
                onset = onsets[rng.integers(len(onsets))] if rng.random() < 0.85 or base in ONSET_ALWAYS else ""
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
    (tmp / "in.txt").write_text(text)
    if spk.engine == "espeak":
        cmd = ["espeak-ng", "-v", spk.name, "-p", str(spk.pitch), "-s", str(spk.rate + rate_jitter), "-w", str(wav), text]
    elif spk.engine == "flite":
        cmd = ["flite", "-voice", spk.name, "--setf", f"duration_stretch={1 - rate_jitter / 50:.2f}",
               "-f", str(tmp / "in.txt"), "-o", str(wav)]
    else:
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


def _check_engines(speakers: list[_Speaker]) -> None:
    engines = {s.engine for s in speakers}
    if "espeak" in engines and shutil.which("espeak-ng") is None:
        raise FileNotFoundError("speech synthesis (`avsep data make`, training, the built-in eval set) needs espeak-ng, "
                                "which is not on PATH: `sudo apt-get install espeak-ng` (Debian/Ubuntu) or "
                                "`brew install espeak-ng` (macOS); exports do not need it")
    if "festival" in engines and shutil.which("text2wave") is None:
        raise FileNotFoundError("festival voices are installed but text2wave is not: `apt-get install festival`")


def synthesise_pool(count: int, seed: int, progress: bool = True, workers: int | None = None, family: str = "train",
                    voices: dict | None = None, festival_share: float = FESTIVAL_SHARE) -> list[Utterance]:
    if family not in FAMILIES:
        raise ValueError(f"voice family must be one of {FAMILIES}, got {family!r}")
    voices = installed_voices() if voices is None else voices
    rng = np.random.default_rng([seed, 0x5eec4])
    fast, festival = _speakers(rng, max(8, count // 3), family, voices)  # ~3 utterances per espeak speaker
    _check_engines(fast + festival)
    plan = [festival[rng.integers(len(festival))] if festival and rng.random() < festival_share
            else fast[rng.integers(len(fast))] for _ in range(count)]
    # threads suffice: the work happens in the synthesisers' own processes, one per thread
    with ThreadPoolExecutor(workers or os.cpu_count() or 2) as ex:
        jobs = ex.map(lambda args: _make_utterance(*args), [(spk, seed, i) for i, spk in enumerate(plan)])
        return list(tqdm(jobs, total=count, desc=f"synthesise speech ({family})", disable=not progress, dynamic_ncols=True))


class Pool(Sequence):
    """Utterances over one int16 array (memory-mapped from the cache, so ranks
    and loader workers share its pages); items are float32 Utterances."""

    def __init__(self, pcm: np.ndarray, lengths: np.ndarray, voices: np.ndarray, texts: np.ndarray, meta: dict | None = None):
        self.pcm, self.voices, self.texts, self.meta = pcm, voices, texts, meta or {}
        self.starts = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
        self.path: Path | None = None  # the cache dir it was loaded from

    def __getstate__(self) -> dict:
        # loader workers started by spawn (macOS) reopen the cache rather than receive a copy of it
        return {"path": self.path} if self.path is not None else self.__dict__

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(Pool.load(state["path"]).__dict__ if set(state) == {"path"} else state)

    @classmethod
    def of(cls, utterances: list[Utterance], meta: dict | None = None) -> "Pool":
        # int16 halves the cache; the synthesisers' own output is 16-bit anyway
        pcm = np.concatenate([np.round(u.audio * 32767).astype(np.int16) for u in utterances])
        return cls(pcm, np.array([len(u.audio) for u in utterances], np.int64),
                   np.array([u.voice for u in utterances]), np.array([u.text for u in utterances]), meta)

    def __len__(self) -> int:
        return len(self.voices)

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        if not -len(self) <= i < len(self):
            raise IndexError(i)
        i %= len(self)
        pcm = self.pcm[self.starts[i] : self.starts[i + 1]]
        return Utterance((pcm / 32767).astype(np.float32), str(self.voices[i]), str(self.texts[i]))

    def seconds(self) -> float:
        return float(self.starts[-1]) / SAMPLE_RATE

    def save(self, d: Path, opus_level: float | None = None) -> None:
        """audio.npy (int16, memory-mapped on load), or with opus_level one
        Ogg Opus stream, audio.opus, at libsndfile's compression level (0..1;
        0.96 is about 15 kbps for speech): a pool small enough to carry to a
        machine that cannot synthesise it (data/pack.py)."""
        if opus_level is None:
            np.save(d / "audio.npy", self.pcm)
        else:
            import soundfile as sf

            with sf.SoundFile(d / "audio.opus", "w", SAMPLE_RATE, 1, format="OGG", subtype="OPUS",
                              compression_level=opus_level) as f:
                for start in range(0, len(self.pcm), 60 * SAMPLE_RATE):  # a minute at a time: no float copy of hours
                    f.write(np.asarray(self.pcm[start : start + 60 * SAMPLE_RATE]))
        # compressed: the voice and text strings are most of it (1.8 MB -> about 0.2 MB for 3000 utterances)
        np.savez_compressed(d / "index.npz", lengths=np.diff(self.starts), voice=self.voices, text=self.texts)
        (d / "meta.json").write_text(json.dumps(self.meta, indent=1))

    @classmethod
    def load(cls, d: Path) -> "Pool":
        with np.load(d / "index.npz", allow_pickle=False) as z:
            lengths, voices, texts = z["lengths"], z["voice"], z["text"]
        if (d / "audio.npy").exists() or not (d / "audio.opus").exists():
            pcm = np.load(d / "audio.npy", mmap_mode="r", allow_pickle=False)
        else:  # decoded into memory: Opus keeps the length exactly (libsndfile trims the codec's pre-skip)
            import soundfile as sf

            pcm, _ = sf.read(d / "audio.opus", dtype="int16")
        if pcm.dtype != np.int16 or len(pcm) != lengths.sum():
            raise ValueError(f"{d}: audio does not match its index")
        pool = cls(pcm, lengths, voices, texts, json.loads((d / "meta.json").read_text()))
        pool.path = d
        return pool


def pool_key(count: int, seed: int, family: str = "train", voices: dict | None = None,
             festival_share: float = FESTIVAL_SHARE) -> dict:
    """Everything that decides a pool's content."""
    return {"version": POOL_VERSION, "count": count, "seed": seed, "family": family,
            "voices": installed_voices() if voices is None else voices,
            "espeak": [ESPEAK_LANGS, ESPEAK_VARIANTS], "festival_share": festival_share}


def pool_dir(cache_dir, count: int, seed: int, family: str = "train", voices: dict | None = None,
             festival_share: float = FESTIVAL_SHARE) -> Path:
    return _dir_of_key(cache_dir, pool_key(count, seed, family, voices, festival_share))


def _dir_of_key(cache_dir, key: dict) -> Path:
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()
    return Path(cache_dir or DEFAULT_CACHE) / f"pool-{digest[:16]}"


def build_pool(cache_dir=None, count: int = 400, seed: int = 0, progress: bool = True, family: str = "train",
               workers: int | None = None, voices: dict | None = None, festival_share: float = FESTIVAL_SHARE) -> Pool:
    """count utterances of a voice family for seed, synthesised once into
    cache_dir/pool-<hash>/ and loaded from there afterwards. voices: a subset
    of the installed ones (default all)."""
    if count < 1:
        raise ValueError(f"pool size must be at least 1, got {count}")
    voices = installed_voices() if voices is None else voices
    key = pool_key(count, seed, family, voices, festival_share)
    return cached_pool(cache_dir, key, lambda: synthesise_pool(count, seed, progress, workers, family, voices, festival_share))


def cached_pool(cache_dir, key: dict, make) -> Pool:
    """The utterances make() returns, built once into cache_dir/pool-<hash of
    key>/ and loaded from there afterwards: key must hold everything that
    decides them."""
    d = _dir_of_key(cache_dir, key)
    d.parent.mkdir(parents=True, exist_ok=True)
    # one builder at a time; the others wait here and then load its result
    with open(d.parent / f".{d.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (d / "meta.json").is_file():
            try:
                return Pool.load(d)
            except (OSError, ValueError, KeyError):  # a damaged cache is just rebuilt
                pass
        start = time.time()
        utterances = make()
        pool = Pool.of(utterances, {**key, "build_seconds": round(time.time() - start, 1),
                                    "distinct_voices": len({u.voice for u in utterances}),
                                    "audio_seconds": round(sum(len(u.audio) for u in utterances) / SAMPLE_RATE, 1)})
        with atomic_dir(d) as tmp:
            pool.save(tmp)
        return Pool.load(d)


def build_eval_pool(cache_dir=None, count: int | None = None, progress: bool = True) -> Pool:
    """Training-family voices reading sentences that no training pool contains."""
    voices = installed_voices()
    voices["festival"] = [v for v in voices["festival"] if v in EVAL_FESTIVAL_VOICES]
    return build_pool(cache_dir, count or EVAL_POOL_SIZE, EVAL_POOL_SEED, progress, voices=voices,
                      festival_share=EVAL_FESTIVAL_SHARE)


def build_unseen_voice_pool(cache_dir=None, count: int | None = None, progress: bool = True) -> Pool:
    """The held-out voice family, which no training pool contains."""
    voices = {"festival": [], "mbrola": [], "flite": installed_flite_voices()}  # the only ones it reads
    return build_pool(cache_dir, count or EVAL_POOL_SIZE, UNSEEN_VOICE_POOL_SEED, progress, family="heldout",
                      voices=voices)
