"""The two ends of the stream as a small Python API: publish prompts, read accepted records.

``PromptPublisher`` builds Prompt events that the real schema and the task's generator accept,
and sends them keyed by prompt id to the prompts topic; ``iter_accepted`` reads the
accepted-records topic (``isolation_level=read_committed``) and yields each record once, typed;
``as_hf_iterable`` wraps that in a ``datasets.IterableDataset`` a trainer can train from while
the pipeline keeps adding to it. No single-object Avro, keys or partitions to know::

    from synthstream.streams.app.client import PromptPublisher, as_hf_iterable, iter_accepted

    with PromptPublisher("127.0.0.1:9092", dataset="demo") as pub:
        ids = pub.publish("math.linear", dimensions={"difficulty": "integer"})
        ids += pub.publish_many([{"task": "math.quadratic", "dimensions": {"difficulty": "easy"}}])

    for record in iter_accepted("127.0.0.1:9092", dataset="demo", since="demo@v1"):
        print(record["record_id"], record["messages"][-1]["content"])

    ds = as_hf_iterable("127.0.0.1:9092", dataset="demo", follow=True)  # the live stream

docs/client.md has the rest, and examples/train_from_stream.py a runnable trainer's end.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, cast

import xxhash

from synthstream.streams import __version__
from synthstream.streams.runtime import kafka_io
from synthstream.streams.runtime.errors import ConfigError, DecodeError, PoisonRecord, SynthstreamError
from synthstream.streams.runtime.records import AcceptedRecord, Lineage, ModelConfig, Prompt
from synthstream.streams.runtime.serde import SchemaRegistry, registry
from synthstream.streams.runtime.settings import KafkaSettings
from synthstream.streams.runtime.topics import TopicNames

logger = logging.getLogger(__name__)

DEFAULT_PREFIX: str = KafkaSettings.model_fields["topic_prefix"].default  # "synthstream."
DEFAULT_THRESHOLD = 0.85  # the Prompt schema's default
Since = str | Mapping[int, int]

__all__ = ["DEFAULT_PREFIX", "DeliveryError", "PromptError", "PromptPublisher", "ReadStats", "as_hf_iterable",
           "iter_accepted", "make_prompt"]


class PromptError(ConfigError, ValueError):
    """A prompt that the pipeline would dead-letter (unknown task, bad params or dimensions); the
    message says what to change. Raised before anything is sent."""


class DeliveryError(SynthstreamError):
    """Prompts the broker did not take; ``prompt_ids`` are the ones to send again."""

    def __init__(self, prompt_ids: list[str], cause: BaseException) -> None:
        shown = ", ".join(prompt_ids[:5]) + (", ..." if len(prompt_ids) > 5 else "")
        super().__init__(f"{len(prompt_ids)} prompt(s) not delivered ({shown}): {cause}")
        self.prompt_ids = prompt_ids


# ---- the producer's end ----------------------------------------------------------------------

def _task(name: str) -> Any:
    from synthstream.agents.families import TASKS

    task = TASKS.get(name)
    if task is None:
        raise PromptError(f"unknown task {name!r}; known tasks: {', '.join(sorted(TASKS))}")
    return task


def _model_config(task: Any, model: ModelConfig | Mapping[str, Any] | str | None) -> ModelConfig | None:
    """None: the task's procedural solver when it has one, else the default model; a name: that
    model with the spec's default sampling; a mapping: ModelConfig fields, the rest defaulted."""
    from pydantic import ValidationError

    from synthstream.agents.spec import ModelSpec

    if model is None and "procedural" in task.solvers:
        return None
    if model is None:
        fields: dict[str, Any] = {}
    elif isinstance(model, str):
        fields = {"name": model}
    else:
        fields = dict(model)
    top = {k: fields.pop(k) for k in ("name", "api") if k in fields}
    try:
        spec = ModelSpec.model_validate({**top, "sampling": fields})
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
        raise PromptError(f"model: {problems}") from None
    return cast(ModelConfig, {"name": spec.name, "api": spec.api, **spec.sampling.model_dump()})


def _dimensions(task: Any, dimensions: Mapping[str, str] | None) -> dict[str, str]:
    dims = dict(dimensions or {})
    bad = [k for k, v in dims.items() if not isinstance(k, str) or not isinstance(v, str)]
    if bad:
        raise PromptError(f"dimensions map names to text; {bad} are not str -> str")
    for dim, category in sorted(dims.items()):
        allowed = task.dimensions.get(dim, ())
        if allowed and category not in allowed:
            raise PromptError(f"{task.name}: dimension {dim!r} is {category!r}; expected one of {list(allowed)}")
    missing = [d for d in task.required_dimensions if d not in dims]
    if missing:
        choices = "; ".join(f"{d}: {', '.join(task.dimensions.get(d, ())) or 'any text'}" for d in missing)
        raise PromptError(f"{task.name} needs dimensions {missing} ({choices})")
    return dims


def _params(task: Any, params: Mapping[str, Any] | None) -> dict[str, str]:
    """The prompt's string map, as the producer writes a spec's params; checked by the task's
    generator exactly as the generation stage will read it."""
    raw = {str(k): v if isinstance(v, str) else json.dumps(v) for k, v in sorted((params or {}).items())}
    missing = [f for f in task.seed_fields if f not in raw]
    if missing:
        raise PromptError(f"{task.name} takes its problem from params {list(task.seed_fields)}; missing {missing}")
    why = task.check_seed(raw) if task.seed_fields else None
    if why is None:
        try:
            task.params(raw)
        except PoisonRecord as exc:
            why = exc.detail
    if why is not None:
        raise PromptError(f"{task.name} params: {why}")
    return raw


def make_prompt(task: str, instruction: str | None = None, *, dataset: str, dataset_version: str,
                spec_hash: str, dimensions: Mapping[str, str] | None = None, params: Mapping[str, Any] | None = None,
                prompt_id: str | None = None, seed: int | None = None, threshold: float | None = None,
                model: ModelConfig | Mapping[str, Any] | str | None = None, seed_source: str | None = None,
                seed_row: int | None = None, seed_hash: str | None = None, now_ms: int | None = None) -> Prompt:
    """One Prompt, checked against the task (PromptError says what is wrong); nothing is sent.

    Defaults: the task's first default instruction; prompt id ``{dataset}-api-{uuid}``; the seed
    from the prompt id (xxh64, as the producer derives it), so re-publishing an id replays it;
    the schema's threshold 0.85; ``model`` as in ``_model_config``."""
    generator = _task(task)
    if instruction is None:
        instruction = generator.default_instructions[0]
    if not isinstance(instruction, str) or not instruction.strip():
        raise PromptError("instruction must be non-empty text")
    prompt_id = prompt_id if prompt_id is not None else f"{dataset}-api-{uuid.uuid4().hex}"
    if not isinstance(prompt_id, str) or not prompt_id:
        raise PromptError("prompt_id must be non-empty text")
    if seed is None:
        seed = xxhash.xxh64_intdigest(prompt_id.encode()) >> 1
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**63:
        raise PromptError(f"seed must be an int in [0, 2**63), not {seed!r}")
    threshold = DEFAULT_THRESHOLD if threshold is None else threshold
    if isinstance(threshold, bool) or not isinstance(threshold, int | float) or not 0 <= threshold <= 1:
        raise PromptError(f"threshold must be a number in [0, 1], not {threshold!r}")
    lineage: Lineage = {
        "dataset": dataset, "dataset_version": dataset_version, "spec_hash": spec_hash,
        "producer_version": f"synthstream@{__version__}",
        "generator": None, "model": None, "verifier": None,
        "prompted_at": now_ms if now_ms is not None else int(time.time() * 1000),
        "generated_at": None, "verified_at": None, "accepted_at": None,
        "seed_source": seed_source, "seed_row": seed_row, "seed_hash": seed_hash,
    }
    return Prompt(prompt_id=prompt_id, task=generator.name, seed=seed, instruction=instruction,
                  dimensions=_dimensions(generator, dimensions), params=_params(generator, params),
                  threshold=float(threshold), lineage=lineage, model=_model_config(generator, model))


class PromptPublisher:
    """Publishes Prompt events of one data set to ``{prefix}prompts``, keyed by prompt id.

    Sends are asynchronous: ``publish`` returns the id at once, ``flush`` waits for every send
    and raises DeliveryError naming the prompts the broker did not take. Leaving the ``with``
    block flushes and closes. A ``producer`` passed in (kafka-python) is flushed, never closed.
    The lineage's ``spec_hash`` is the sha256 of the publisher's settings (there is no spec)
    unless one is given."""

    def __init__(self, bootstrap: str, *, dataset: str, dataset_version: str = "1", prefix: str = DEFAULT_PREFIX,
                 spec_hash: str | None = None, producer: Any = None, serde: SchemaRegistry | None = None) -> None:
        from synthstream.agents.spec import DatasetSpec

        try:
            DatasetSpec(name=dataset, version=dataset_version)  # the spec's rule for a data set's name
        except ValueError as exc:
            raise PromptError(f"dataset {dataset!r} / version {dataset_version!r}: {exc}") from None
        self.dataset, self.dataset_version = dataset, dataset_version
        self.topic = TopicNames(prefix).prompts
        self.spec_hash = spec_hash or hashlib.sha256(json.dumps(
            {"source": "synthstream.client", "dataset": dataset, "dataset_version": dataset_version},
            sort_keys=True).encode()).hexdigest()
        self.serde = serde or registry()
        self._owned = producer is None
        self.producer = producer if producer is not None else kafka_io.producer(bootstrap, "client-prompts")
        self._pending: list[tuple[str, Any]] = []  # (prompt id, send future) since the last flush
        self.sent = 0

    def prompt(self, task: str, instruction: str | None = None, **fields: Any) -> Prompt:
        """The Prompt ``publish`` would send (see ``make_prompt`` for the fields)."""
        return make_prompt(task, instruction, dataset=self.dataset, dataset_version=self.dataset_version,
                           spec_hash=self.spec_hash, **fields)

    def publish(self, task: str, instruction: str | None = None, *, dimensions: Mapping[str, str] | None = None,
                params: Mapping[str, Any] | None = None, prompt_id: str | None = None, seed: int | None = None,
                threshold: float | None = None, model: ModelConfig | Mapping[str, Any] | str | None = None,
                seed_source: str | None = None, seed_row: int | None = None,
                seed_hash: str | None = None) -> str:
        """Build, check and send one prompt; returns its id (delivery is confirmed by ``flush``)."""
        prompt = self.prompt(task, instruction, dimensions=dimensions, params=params, prompt_id=prompt_id,
                             seed=seed, threshold=threshold, model=model, seed_source=seed_source,
                             seed_row=seed_row, seed_hash=seed_hash)
        self._send([(prompt, self.serde.encode("Prompt", prompt))])
        return prompt["prompt_id"]

    def publish_many(self, prompts: Iterable[Mapping[str, Any]]) -> list[str]:
        """Each mapping holds ``publish``'s arguments (``task`` required). Every prompt is built and
        checked before any is sent (a bad one raises PromptError, naming its index, and nothing is
        sent); returns the ids once all are delivered."""
        built = []
        for i, fields in enumerate(prompts):
            fields = dict(fields)
            if "task" not in fields:
                raise PromptError(f"prompt {i}: no task")
            try:
                prompt = self.prompt(fields.pop("task"), fields.pop("instruction", None), **fields)
            except PromptError as exc:
                raise PromptError(f"prompt {i}: {exc}") from None
            except TypeError as exc:  # an argument publish does not take
                raise PromptError(f"prompt {i}: {exc}") from None
            built.append((prompt, self.serde.encode("Prompt", prompt)))
        self._send(built)
        self.flush()
        return [p["prompt_id"] for p, _ in built]

    def _send(self, encoded: list[tuple[Prompt, bytes]]) -> None:
        for prompt, value in encoded:
            future = self.producer.send(self.topic, key=prompt["prompt_id"].encode(), value=value)
            self._pending.append((prompt["prompt_id"], future))

    def flush(self, timeout_s: float = 30.0) -> None:
        """Wait for every send since the last flush; DeliveryError if any failed."""
        pending, self._pending = self._pending, []
        if not pending:
            return
        self.producer.flush(timeout=timeout_s)
        failed, first = [], None
        for prompt_id, future in pending:
            try:
                future.get(timeout=timeout_s)
            except Exception as exc:  # kafka-python's KafkaError and its timeouts
                failed.append(prompt_id)
                first = first or exc
        self.sent += len(pending) - len(failed)
        if first is not None:
            raise DeliveryError(failed, first) from first

    def close(self) -> None:
        """Flush, then close the producer if this publisher made it."""
        try:
            self.flush()
        finally:
            if self._owned:
                self.producer.close(timeout=10)

    def __enter__(self) -> PromptPublisher:
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc_type is None:
            self.close()
        elif self._owned:  # the error in the block is the one to see; unsent prompts are lost with it
            self._pending = []
            self.producer.close(timeout=10)


# ---- the trainer's end -----------------------------------------------------------------------

@dataclass
class ReadStats:
    """What ``iter_accepted`` skipped on the way, filled as it reads."""

    yielded: int = 0
    duplicates: int = 0  # a record id seen before (redelivered copies)
    other_datasets: int = 0
    undecodable: int = 0


def _start_of(bootstrap: str, names: TopicNames, since: Since, dataset: str | None,
              serde: SchemaRegistry) -> tuple[str | dict[int, int], str | None]:
    """(``"beginning"``, ``"end"`` or partition -> offset, the data set to keep)."""
    if isinstance(since, Mapping):
        try:
            return {int(p): int(o) for p, o in since.items()}, dataset
        except (TypeError, ValueError):
            raise ConfigError(f"since: offsets map partitions to offsets, not {dict(since)!r}") from None
    if since in ("beginning", "end"):
        return since, dataset
    if not isinstance(since, str) or "@" not in since:
        raise ConfigError(f"since is 'beginning', 'end', a version tag NAME@VERSION or partition -> offset; "
                          f"not {since!r}")
    from synthstream.streams.app.versions import parse_key, read_versions, stop_of

    name, _ = parse_key(since)
    tags = read_versions(bootstrap, names["dataset-versions"], serde)
    if since not in tags:
        raise ConfigError(f"no version {since} in {names['dataset-versions']}; tags there: "
                          f"{', '.join(sorted(tags)) or 'none'}")
    return stop_of(tags[since]), dataset if dataset is not None else name


def iter_accepted(bootstrap: str, *, dataset: str | None = None, since: Since = "beginning", follow: bool = False,
                  prefix: str = DEFAULT_PREFIX, poll_timeout_s: float = 0.5, idle_timeout_s: float | None = None,
                  stats: ReadStats | None = None, serde: SchemaRegistry | None = None) -> Iterator[AcceptedRecord]:
    """The accepted records of ``{prefix}accepted-records``, each record id once, in topic order
    per partition.

    ``dataset`` keeps only records whose ``lineage.dataset`` is it. ``since`` is where to start:
    ``"beginning"``; ``"end"`` (only records written from now on); partition -> offset (a
    partition not named starts at its beginning); or a version tag ``NAME@VERSION`` (from
    ``synthstream dataset tag``): the records written after that version, of data set NAME
    unless ``dataset`` says otherwise. An unknown tag is a ConfigError listing the tags, raised
    here, before iteration.

    ``follow=False`` stops at the end offsets taken when iteration starts (TimeoutError when no
    message arrives for ``idle_timeout_s``, default 60 s, before they are reached);
    ``follow=True`` keeps waiting for new records until the caller stops (``close()`` the
    generator, break out of a loop, KeyboardInterrupt: polls are ``poll_timeout_s`` long, and the
    consumer is closed on the way out), or until ``idle_timeout_s`` passes without a new record.

    Reads with ``isolation_level=read_committed``: records of an open or aborted transaction are
    never yielded (the dedup stage writes each record once, transactionally). Deduplicating by
    record id (a set that grows with the records read) is the backstop for topics written at
    least once (SYNTHSTREAM_WORKER_EXACTLY_ONCE=false); it covers what this call reads, so a
    copy of a record below a version tag's offsets still shows up once after it. Undecodable messages are skipped with a warning and counted
    in ``stats`` (a ReadStats), with the duplicates and other data sets' records.
    """
    names = TopicNames(prefix)
    serde = serde or registry()
    start, keep = _start_of(bootstrap, names, since, dataset, serde)
    return _read(bootstrap, names["accepted-records"], serde, start, keep, follow, poll_timeout_s, idle_timeout_s,
                 stats if stats is not None else ReadStats())


def _read(bootstrap: str, topic: str, serde: SchemaRegistry, start: str | dict[int, int], dataset: str | None,
          follow: bool, poll_timeout_s: float, idle_timeout_s: float | None,
          stats: ReadStats) -> Iterator[AcceptedRecord]:
    from kafka import TopicPartition

    client = kafka_io.consumer(bootstrap, "client-accepted", isolation_level="read_committed",
                               fetch_max_bytes=kafka_io.FETCH_MAX_BYTES,
                               max_partition_fetch_bytes=kafka_io.PARTITION_FETCH_BYTES)
    try:
        parts = [TopicPartition(topic, p) for p in kafka_io.partitions_of(client, topic)]
        unknown = sorted(set(start) - {tp.partition for tp in parts}) if isinstance(start, dict) else []
        if unknown:
            raise ConfigError(f"since: {topic} has no partition(s) {unknown}")
        client.assign(parts)
        begin, end = client.beginning_offsets(parts), client.end_offsets(parts)  # end: the last stable offsets
        for tp in parts:
            if start == "end":
                client.seek(tp, end[tp])
            else:
                client.seek(tp, max(start.get(tp.partition, 0) if isinstance(start, dict) else 0, begin[tp]))
        remaining = set() if follow else {tp for tp in parts if client.position(tp) < end[tp]}
        positions = {tp: client.position(tp) for tp in remaining}
        wait_s = idle_timeout_s if idle_timeout_s is not None else (None if follow else 60.0)
        seen: set[str] = set()
        last = time.monotonic()  # of the last progress; the time the caller spends between records is not idle
        while follow or remaining:
            for tp, messages in client.poll(timeout_ms=int(poll_timeout_s * 1000), max_records=2000).items():
                for msg in messages:
                    if not follow and msg.offset >= end[tp]:
                        continue
                    record = _decoded(serde, msg, stats)
                    if record is None:
                        continue
                    if dataset is not None and record["lineage"]["dataset"] != dataset:
                        stats.other_datasets += 1
                        continue
                    if record["record_id"] in seen:
                        stats.duplicates += 1
                        continue
                    seen.add(record["record_id"])
                    stats.yielded += 1
                    yield record
                    last = time.monotonic()
            if not follow:  # progress is any move towards the end offsets (skipping aborted batches too)
                moved = {tp: client.position(tp) for tp in remaining}
                if moved != positions:
                    positions, last = moved, time.monotonic()
                remaining = {tp for tp, at in moved.items() if at < end[tp]}
            if (follow or remaining) and wait_s is not None and time.monotonic() - last > wait_s:
                if follow:
                    return
                raise TimeoutError(f"{topic} partitions {sorted(tp.partition for tp in remaining)}: nothing read "
                                   f"for {wait_s:.0f}s before their end offsets")
    finally:
        client.close()
        if stats.undecodable:
            logger.warning("iter_accepted: skipped %d undecodable message(s) in %s", stats.undecodable, topic)


def _decoded(serde: SchemaRegistry, msg: Any, stats: ReadStats) -> AcceptedRecord | None:
    try:
        _, record = serde.decode(msg.value, "AcceptedRecord")
    except DecodeError as exc:
        stats.undecodable += 1
        if stats.undecodable <= 3:
            logger.warning("iter_accepted: skipping undecodable %s[%d]@%d: %s", msg.topic, msg.partition, msg.offset,
                           exc)
        return None
    return cast(AcceptedRecord, record)


def _rows(bootstrap: str, row: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
          **kwargs: Any) -> Iterator[dict[str, Any]]:
    """The generator ``as_hf_iterable`` gives datasets (a module-level function: it is pickled)."""
    from synthstream.streams.app.exporter import to_jsonl

    convert = row or to_jsonl
    for record in iter_accepted(bootstrap, **kwargs):
        yield convert(record)


def as_hf_iterable(bootstrap: str, *, row: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
                   **kwargs: Any) -> Any:
    """A ``datasets.IterableDataset`` of training rows over ``iter_accepted(bootstrap, **kwargs)``.

    Each row is ``row(record)``, by default the exporter's JSONL row (``id``, ``task``,
    ``messages``, ``answer``, ``quality_score``, ``metadata``; ``code``/``grounding`` when the
    record has them). The stream is read anew each time the data set is iterated; with
    ``follow=True`` it does not end. ``row`` must be a module-level function (datasets pickles
    the generator's arguments); a version tag is checked here, before the data set is made."""
    import datasets

    if isinstance(kwargs.get("since"), str) and "@" in kwargs["since"]:  # an unknown tag fails now, not in a loop
        _start_of(bootstrap, TopicNames(kwargs.get("prefix", DEFAULT_PREFIX)), kwargs["since"],
                  kwargs.get("dataset"), kwargs.get("serde") or registry())
    if isinstance(kwargs.get("since"), Mapping):
        kwargs["since"] = dict(kwargs["since"])
    return datasets.IterableDataset.from_generator(_rows, gen_kwargs={"bootstrap": bootstrap, "row": row, **kwargs})
