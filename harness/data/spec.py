"""Dataset specs: ``ADAPTER[:PATH_OR_HUB_ID[@SPLIT]]`` parsed and resolved to a local file or a hub id.

    parse_spec("hh-rlhf")                         # the shipped harmless-base test sample
    parse_spec("hh-rlhf:data/train.jsonl.gz")      # a local file
    parse_spec("ultrafeedback-binarized:HuggingFaceH4/ultrafeedback_binarized@train_prefs")
    parse_spec("gsm8k-pairs:gsm8k@train")          # short alias -> openai/gsm8k (config main)

Resolution rules, in order:
1. no location: the adapter's shipped sample (``harness/assets/data``), or nothing at all for
   synthetic adapters such as ``arith``;
2. a short alias of the adapter (``gsm8k``, ``harmless-base``, ...): the shipped copy when it is
   byte-identical to the requested hub split, else the hub dataset it names;
3. an existing local file or directory;
4. something that looks like a path (a data-file suffix, or starting with ``/``, ``./``, ``~``):
   a `DataError` naming it — never a silent hub lookup;
5. anything else is a Hugging Face hub id, loaded through `datasets` (which fails clearly offline).
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

from harness.errors import ConfigError, DataError

ASSETS = Path(__file__).resolve().parent.parent / "assets" / "data"

# adapter -> shipped sample used when the spec names no location (copies of /work/shared/data,
# provenance and licence in each folder's SOURCE.md)
SHIPPED = {
    "hh-rlhf": "hh-rlhf/harmless-base-test.jsonl.gz",
    "gsm8k-pairs": "gsm8k/test.jsonl",
    "ultrafeedback-binarized": "ultrafeedback_binarized/ultrafeedback_binarized_test.jsonl",
}

# suffixes we can read locally; the longest match wins (".jsonl.gz" before ".gz")
FORMATS = {".jsonl": "jsonl", ".jsonl.gz": "jsonl", ".ndjson": "jsonl", ".json": "json", ".json.gz": "json",
           ".parquet": "parquet"}


@dataclasses.dataclass(frozen=True)
class HubRef:
    """A hub dataset: `datasets.load_dataset(id, name, data_dir=..., split=...)`."""

    id: str
    name: str | None = None  # the dataset config ("main" for openai/gsm8k)
    data_dir: str | None = None  # a subset folder ("harmless-base" in Anthropic/hh-rlhf)
    shipped: dict[str, str] = dataclasses.field(default_factory=dict)  # split -> identical shipped file


_HH = "Anthropic/hh-rlhf"
# (adapter, alias) -> hub dataset. Users type the short name they know from papers.
ALIASES: dict[tuple[str, str], HubRef] = {
    ("gsm8k-pairs", "gsm8k"): HubRef("openai/gsm8k", name="main", shipped={"test": SHIPPED["gsm8k-pairs"]}),
    ("hh-rlhf", "harmless-base"): HubRef(_HH, data_dir="harmless-base", shipped={"test": SHIPPED["hh-rlhf"]}),
    ("hh-rlhf", "helpful-base"): HubRef(_HH, data_dir="helpful-base"),
    ("hh-rlhf", "helpful-online"): HubRef(_HH, data_dir="helpful-online"),
    ("hh-rlhf", "helpful-rejection-sampled"): HubRef(_HH, data_dir="helpful-rejection-sampled"),
    ("ultrafeedback-binarized", "ultrafeedback"): HubRef("HuggingFaceH4/ultrafeedback_binarized"),
    ("shp", "shp"): HubRef("stanfordnlp/SHP"),
}

_SPLIT = re.compile(r"[^/@]+")  # a split never contains "/" (so "a@b/c.jsonl" stays a path)


@dataclasses.dataclass(frozen=True)
class DatasetSpec:
    text: str  # the spec as the user wrote it
    adapter: str
    location: str | None  # what followed "ADAPTER:", without "@SPLIT"
    split: str | None
    path: Path | None = None  # a local file or directory, once resolved
    hub: HubRef | None = None  # a hub dataset, once resolved

    @property
    def kind(self) -> str:
        """"file", "dir" (read through `datasets`), "hub", or "none" (a synthetic adapter)."""
        if self.path is not None:
            return "dir" if self.path.is_dir() else "file"
        return "hub" if self.hub is not None else "none"

    def describe(self) -> str:
        """Where the data came from, for `LoadedPairs.source`, run tables and messages."""
        if self.path is not None:
            where = str(self.path)
        elif self.hub is not None:
            where = "hf:" + self.hub.id + "".join(f"[{k}={v}]" for k, v in (("name", self.hub.name),
                                                                          ("data_dir", self.hub.data_dir)) if v)
        else:
            return self.adapter
        return f"{self.adapter}:{where}" + (f"@{self.split}" if self.split and self.kind != "file" else "")


def parse_spec(text: str) -> DatasetSpec:
    """Split ``ADAPTER[:LOCATION[@SPLIT]]`` and resolve the location (see the module docstring)."""
    if not isinstance(text, str) or not text.strip():
        raise ConfigError(f"dataset spec must be a non-empty string like 'hh-rlhf:path/to/file.jsonl', got {text!r}")
    adapter, sep, rest = text.strip().partition(":")
    if not adapter:
        raise ConfigError(f"dataset spec {text!r}: missing the adapter name before ':'")
    if sep and not rest:
        raise ConfigError(f"dataset spec {text!r}: nothing after ':' (give a path or hub id, or drop the ':')")
    location, split = rest or None, None
    if location and "@" in location and not Path(location).expanduser().exists():  # "a@b.jsonl" is a file
        head, _, tail = location.rpartition("@")
        if head and _SPLIT.fullmatch(tail):
            location, split = head, tail
    return resolve(DatasetSpec(text, adapter, location, split))


def resolve(spec: DatasetSpec) -> DatasetSpec:
    """Attach `path` or `hub`. Raises `DataError` for a path-looking location that does not exist."""
    loc = spec.location
    if loc is None:
        shipped = SHIPPED.get(spec.adapter)
        if shipped is None:
            return spec  # synthetic adapter (arith): no data file at all
        if spec.split is not None:
            raise ConfigError(f"dataset spec {spec.text!r}: a split needs a location, e.g. {spec.adapter}:HUB_ID@SPLIT")
        return dataclasses.replace(spec, path=ASSETS / shipped)
    alias = ALIASES.get((spec.adapter, loc))
    if alias is not None:
        shipped = alias.shipped.get(spec.split or "test")  # no split: the shipped test copy, if any
        if shipped is not None:
            return dataclasses.replace(spec, path=ASSETS / shipped, split=None)
        return dataclasses.replace(spec, hub=alias)
    path = Path(loc).expanduser()
    if path.exists():
        if path.is_file() and spec.split is not None:
            raise ConfigError(f"dataset spec {spec.text!r}: '@{spec.split}' applies to hub datasets and "
                              f"directories, not to the single file {loc}")
        return dataclasses.replace(spec, path=path)
    if looks_like_path(loc):
        raise DataError(f"{loc}: no such file or directory (dataset spec {spec.text!r})")
    return dataclasses.replace(spec, hub=HubRef(loc))


def file_format(path: Path) -> str | None:
    """"jsonl" | "json" | "parquet" from the file name, or None when the suffix is unknown."""
    name = path.name.lower()
    for suffix in sorted(FORMATS, key=len, reverse=True):
        if name.endswith(suffix):
            return FORMATS[suffix]
    return None


def looks_like_path(loc: str) -> bool:
    """A hub id is ``name`` or ``owner/name``; anything with a file suffix or a path prefix is a path."""
    return (file_format(Path(loc)) is not None or loc.startswith(("/", "./", "../", "~", "."))
            or loc.count("/") > 1 or "\\" in loc)
