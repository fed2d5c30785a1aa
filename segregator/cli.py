"""The command line: `python -m segregator classify|placeholders|similar|apply ...`, over the same jobs as the UI."""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import posixpath
import sys
import time
from pathlib import Path
from typing import Any, Sequence

from . import jobs
from .duplicates import KEEP_HELP as KEEP_RULES_HELP
from .duplicates import DuplicateSettings
from .loading import ImageLoadError, is_image_name
from .plan import MovePlan, PlanFile, PlanWriter
from .progress import StderrBar
from .session_log import SessionLog
from .settings import Settings


class CliError(Exception):
    """A one-line message for the user; exit code 1."""


class NotConfirmed(CliError):
    """The user did not confirm (or could not be asked): nothing changed; the command's job reads cancelled."""


_JOB = {}  # the job this command runs as (see _as_job): its context, for progress and the run's number


def _progress(args: argparse.Namespace, label: str):
    """The progress callback of a command: the bar on stderr (unless --quiet) and the job's record, which is
    also where `python -m segregator jobs cancel ID` stops it."""
    bar = StderrBar(label) if not args.quiet else None
    ctx = _JOB.get("ctx")
    if ctx is None:
        return bar
    ctx.echo = bar
    if ctx.phase != label:
        ctx.set_phase(label)
    return ctx


def _on_run(run_id: int) -> None:
    _JOB["run_id"] = run_id  # an interruption names the run to resume
    if _JOB.get("ctx") is not None:
        _JOB["ctx"].set_run(run_id)


JOB_COMMANDS = {"classify": "classify", "placeholders": "placeholders", "similar": "similar", "teach": "teach",
                "duplicates": "duplicates",
                "apply": "apply", "resume": "resume", "undo": "undo", "empty-trash": "empty_trash"}


def _as_job(args: argparse.Namespace) -> int:
    """Run the command as a job of its own, recorded in the job store with the app's jobs: its state,
    progress and result, and a cancel from elsewhere reaches it."""
    from .executor import StopRequested
    from .jobs.runner import JobContext, JobStore

    source = getattr(args, "src", None) or getattr(args, "plan", None) or str(getattr(args, "run", "") or "")
    params = {k: v for k, v in vars(args).items() if k != "func" and isinstance(v, (str, int, float, bool, type(None)))}
    store = JobStore()
    job_id = store.add(JOB_COMMANDS[args.command], f"{args.command} (command line)", str(source), params,
                       state="running")
    store.update(job_id, started=time.time())
    _JOB["ctx"] = JobContext(store, job_id)
    try:
        code = args.func(args)
    except StopRequested as exc:
        store.update(job_id, state="cancelled", error=str(exc), finished=time.time())
        raise CliError(f"job {job_id} {exc}") from None
    except NotConfirmed as exc:  # declined, not failed: the Jobs page does not offer it to resume
        store.update(job_id, state="cancelled", error=str(exc), finished=time.time())
        raise
    except CliError as exc:
        store.update(job_id, state="failed", error=str(exc), finished=time.time())
        raise
    except KeyboardInterrupt:
        store.update(job_id, state="cancelled", error="interrupted", finished=time.time())
        raise
    except BaseException as exc:
        store.update(job_id, state="failed", error=str(exc) or type(exc).__name__, finished=time.time())
        raise
    result = _JOB.get("result") or {}
    cancelled = bool((result.get("stopped") or "").startswith("cancelled"))
    store.update(job_id, state="cancelled" if cancelled else "done", finished=time.time(), result=result or None,
                 error="cancelled by the user" if cancelled else None)
    return code


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, not {value}")
    return value


def _settings(args: argparse.Namespace, classify: bool = False, model: bool = False) -> Settings:
    """Settings from the flags. `classify` runs the image model, and so does `placeholders` (`model`: its
    evidence keeps product cut-outs on white out of no_image/), without faces; the other jobs need no
    categories."""
    overrides: dict[str, Any] = ({} if classify else {"faces.detect": "off"} if model
                                 else {"classifier.backend": "heuristic"})
    for item in args.set or []:
        name, sep, value = item.partition("=")
        if not sep:
            raise CliError(f"--set expects NAME=VALUE, got {item!r}")
        overrides[name.strip()] = value.strip()
    if getattr(args, "threshold", None) is not None:
        overrides["similarity.max_hamming"] = args.threshold
    if getattr(args, "pixel_threshold", None) is not None:
        overrides["similarity.min_pixel_similarity"] = args.pixel_threshold
    if getattr(args, "embedding_threshold", None) is not None:
        overrides["similarity.min_embedding_similarity"] = args.embedding_threshold
    if getattr(args, "sensitivity", None) is not None:
        overrides["placeholder.sensitivity"] = args.sensitivity
    if args.no_ocr:
        overrides["placeholder.ocr"] = False
    if getattr(args, "classifier", None):
        overrides["classifier.backend"] = args.classifier
    try:
        return jobs.checked_settings(Settings().with_overrides(overrides))
    except ValueError as exc:
        raise CliError(str(exc)) from None


def _open(src: str):
    try:
        return jobs.open_source(src)
    except (OSError, ValueError) as exc:
        raise CliError(f"cannot read source {src!r}: {exc}") from None


def _examples(args: argparse.Namespace, settings: Settings):
    if not getattr(args, "examples", None):
        return ()
    folder = Path(args.examples)
    if not folder.is_dir():
        raise CliError(f"examples folder not found: {folder}")
    refs = []
    for path in sorted(folder.iterdir()):
        if path.is_file() and is_image_name(path.name):
            try:
                refs.append(jobs.load_reference(path.read_bytes(), settings))
            except ImageLoadError as exc:
                print(f"skipping example {path.name}: {exc}", file=sys.stderr)
    return tuple(refs)


def _analysis_stream(args: argparse.Namespace, settings: Settings, placeholders: bool = True, examples=()):
    """The results as they come (see jobs.iter_analysis); listing errors surface when it is first read."""
    storage, prefix = _open(args.src)
    bar = _progress(args, "analysing")
    stream = jobs.iter_analysis(storage, prefix, settings, recursive=not args.flat, examples=examples,
                                progress=bar, workers=args.workers, placeholders=placeholders,
                                cache=not args.no_cache, cluster=_cluster(args))
    return (storage, prefix), _cluster_errors(stream)


def _relative(key: str, prefix: str) -> str:
    """Keys in the JSON output are relative to SRC, for folders and buckets alike."""
    return key[len(prefix):] if prefix and key.startswith(prefix) else key


class _Rows:
    """The output rows as they come: one JSON array, byte for byte what json.dump(rows, indent=2) writes, or
    NAME=VALUE lines."""

    def __init__(self, as_json: bool, columns: Sequence[str]):
        self.as_json, self.columns, self.count = as_json, columns, 0

    def add(self, row: dict) -> None:
        if self.as_json:
            text = json.dumps(row, ensure_ascii=False, indent=2).replace("\n", "\n  ")
            sys.stdout.write(("[\n  " if not self.count else ",\n  ") + text)
        else:
            print("  ".join(f"{c}={row[c]}" for c in self.columns if row.get(c) is not None))
        self.count += 1

    def close(self) -> None:
        if self.as_json:
            sys.stdout.write("\n]\n" if self.count else "[]\n")


def _stream(args: argparse.Namespace, header: MovePlan, items, row_of, columns: Sequence[str]) -> int:
    """Each plan item to the plan file (--plan-out) and its row to stdout, as the analysis yields them:
    memory stays flat however many images there are."""
    if args.plan_out and not os.path.isdir(os.path.dirname(os.path.abspath(args.plan_out))):
        raise CliError(f"cannot write the plan to {args.plan_out!r}: its folder does not exist")
    writer = PlanWriter(args.plan_out, header) if args.plan_out else None
    rows = _Rows(args.json, columns)
    try:
        for item in items:
            if writer:
                writer.add(item)
            rows.add(row_of(item))
    except OSError as exc:  # listing failed: bucket gone, key revoked, endpoint down
        if writer:
            writer.abort()
        raise CliError(f"cannot read source {args.src!r}: {exc}") from None
    except BaseException:
        if writer:
            writer.abort()
        raise
    rows.close()
    if writer:
        s = writer.close()
        print(f"plan written to {args.plan_out}: {s['to_move']} to move, {s['kept']} kept, {s['errors']} errors",
              file=sys.stderr)
    return 0


def cmd_classify(args: argparse.Namespace) -> int:
    settings = _settings(args, classify=True)
    try:
        if args.faces_folder is not None:
            jobs.check_folder_name(args.faces_folder)
        if args.output:
            args.output = jobs.check_folder_name(args.output)
        categories = jobs.classifier_categories(settings.classifier.backend)
    except ValueError as exc:
        raise CliError(str(exc)) from None
    (storage, prefix), stream = _analysis_stream(args, settings, examples=_examples(args, settings))
    header = jobs.classification_header(storage, prefix, args.output, categories)

    def row(item) -> dict:
        key = _relative(item.source, prefix)
        if item.error is None:
            return {"key": key, "category": item.category, "confidence": round(float(item.confidence), 4), "error": None}
        return {"key": key, "category": None, "confidence": 0.0, "error": item.error}

    return _stream(args, header, jobs.classification_items(stream, header, args.faces_folder,
                                                                 settings.classifier.min_familiarity), row,
                   ("key", "category", "confidence", "error"))


def cmd_placeholders(args: argparse.Namespace) -> int:
    settings = _settings(args, model=True)
    (storage, prefix), stream = _analysis_stream(args, settings, examples=_examples(args, settings))
    try:
        header = jobs.placeholder_header(storage, prefix, args.output or "no_image")
    except ValueError as exc:
        raise CliError(str(exc)) from None

    def row(item) -> dict:
        key = _relative(item.source, prefix)
        if item.error is None:
            return {"key": key, "placeholder": item.action != "keep", "reasons": list(item.scores.get("reasons", [])),
                    "error": None}
        return {"key": key, "placeholder": False, "reasons": [], "error": item.error}

    return _stream(args, header, jobs.placeholder_items(stream, header), row, ("key", "placeholder", "reasons", "error"))


def cmd_similar(args: argparse.Namespace) -> int:
    settings = _settings(args)
    try:
        reference = jobs.load_reference(Path(args.reference).read_bytes(), settings)
    except OSError as exc:
        raise CliError(f"cannot read reference {args.reference!r}: {exc.strerror or exc}") from None
    except ImageLoadError as exc:
        raise CliError(f"reference {args.reference!r} is not usable: {exc}") from None
    (storage, prefix), stream = _analysis_stream(args, settings, placeholders=False)
    try:
        header = jobs.reference_header(storage, prefix, args.output or f"similar_to_{Path(args.reference).stem}")
    except ValueError as exc:
        raise CliError(str(exc)) from None

    def row(item) -> dict:
        key = _relative(item.source, prefix)
        if item.error is not None:
            return {"key": key, "match": False, "hamming": None, "pixel_similarity": None, "error": item.error}
        return {"key": key, "match": item.action != "keep", "hamming": item.scores["hamming"],
                "pixel_similarity": item.scores["pixel_similarity"], "error": None}

    matches = jobs.iter_matches(reference, stream, settings)
    return _stream(args, header, jobs.reference_items(matches, header), row,
                   ("key", "match", "hamming", "pixel_similarity", "error"))


def cmd_duplicates(args: argparse.Namespace) -> int:
    overrides = {"similarity.min_embedding_similarity": args.embedding_threshold or DuplicateSettings().min_embedding_similarity} if args.tier == "similar" else {}
    args.set = (args.set or []) + [f"{k}={v}" for k, v in overrides.items()]
    settings = _settings(args)
    args.to = (args.to or args.output or "duplicates").strip()
    try:
        jobs.duplicate_settings("", args.tier, args.keep, args.reference_folder or (), args.to, args.threshold,
                                args.pixel_threshold, args.embedding_threshold)  # checked before any listing
    except ValueError as exc:
        raise CliError(str(exc)) from None
    from .learned import available as model_available

    if args.tier == "similar" and not model_available():
        raise CliError("the similar tier needs the image model (onnxruntime and segregator/models/efficientnet_lite0.onnx)")
    (storage, prefix), stream = _analysis_stream(args, settings, placeholders=False)
    dup = jobs.duplicate_settings(prefix, args.tier, args.keep, args.reference_folder or (), args.to, args.threshold,
                                  args.pixel_threshold, args.embedding_threshold)
    try:
        grouped = jobs.group_results(stream, dup, progress=_progress(args, "grouping"))
    except OSError as exc:
        raise CliError(f"cannot read source {args.src!r}: {exc}") from None
    header = jobs.duplicates_header(storage, prefix, args.to, dup)
    header.extra.update(group_count=grouped.groups, image_count=grouped.in_groups)
    print(f"{grouped.groups:,} group(s) of duplicates, {grouped.in_groups:,} image(s) in them "
          f"(tiers up to {dup.tier})", file=sys.stderr)

    def row(item) -> dict:
        key = _relative(item.source, prefix)
        if item.error is not None:
            return {"key": key, "group": None, "keep": True, "tier": None, "error": item.error}
        return {"key": key, "group": item.scores.get("group"), "keep": item.action == "keep",
                "tier": item.scores.get("tier"), "error": None}

    return _stream(args, header, grouped.items(header), row, ("key", "group", "keep", "tier", "error"))


def cmd_search(args: argparse.Namespace) -> int:
    """Analyse SRC (incrementally), update its search store, and print the hits of a tag or "like" query."""
    from .jobs import search as sj

    if not args.tag and not args.like and not args.category and not args.faces:
        raise CliError("say what to search for: --tag WORDS, --like IMAGE, --category C or --faces")
    if args.like and (args.tag or args.category or args.faces):
        raise CliError("--like searches by likeness alone; leave out --tag, --category and --faces")
    if args.top < 1:
        raise CliError("--top must be at least 1")
    if not 0.0 <= args.min_score <= 1.0:
        raise CliError("--min-score must be between 0 and 1")
    try:
        settings = sj.search_settings(_settings(args, classify=True))
        like = sj.search_embedding(args.like, settings, repr(args.like)) if args.like else None
    except ValueError as exc:
        raise CliError(str(exc)) from None
    (storage, prefix), stream = _analysis_stream(args, settings)
    store = sj.open_store(storage)
    errors: list[tuple[str, str]] = []
    try:
        counts = sj.update_store(store, stream, prefix, recursive=not args.flat, errors=errors)
    except OSError as exc:
        raise CliError(f"cannot read source {args.src!r}: {exc}") from None
    for key, error in errors:
        print(f"{_relative(key, prefix)}: {error}", file=sys.stderr)
    print(f"search store: {store.count():,} images ({counts.get('added', 0)} added, {counts.get('changed', 0)} changed, "
          f"{counts.get('dropped', 0)} dropped, {counts.get('unchanged', 0)} unchanged; {len(errors)} not analysed)",
          file=sys.stderr)
    hits = sj.find(store, prefix, args.top, args.tag or "", args.category, args.faces, like, args.min_score)
    query = sj.describe(args.tag or "", args.category, args.faces, args.like and Path(args.like).name)
    store.close()
    output = args.to or args.output or "search_results"
    try:
        header = sj.search_header(storage, prefix, output)
    except ValueError as exc:
        raise CliError(str(exc)) from None

    def row(item) -> dict:
        return {"key": _relative(item.source, prefix), "score": item.scores["score"], "tags": item.scores["tags"],
                "error": None}

    return _stream(args, header, sj.search_items(hits, header, query, args.copy), row, ("key", "score", "tags", "error"))


def _preview(plan: MovePlan, items, copy: bool) -> str:
    """What a plan will do, read from its items as they stream: per destination folder a count and the
    first 20 moves."""
    from .plan import check_item

    where = plan.storage.get("root") or f"bucket {plan.storage.get('bucket')} on {plan.storage.get('endpoint_host')}"
    folders: dict[tuple[str, str], list] = {}  # (folder, verb) -> [count, examples]
    kept = errors = 0
    for i in items:
        check_item(plan, i)  # an unsafe or stray line is refused now, before anything is asked
        errors += bool(i.error)
        if i.action == "keep" or i.source == i.destination:
            kept += 1
            continue
        verb = "copy" if copy or i.action == "copy" else "move"  # a plan made to copy copies: say so
        entry = folders.setdefault((posixpath.dirname(i.destination) + "/", verb), [0, []])
        entry[0] += 1
        if len(entry[1]) < 20:
            entry[1].append(f"    {i.source} -> {i.destination}")
    lines = [f"plan: {plan.kind} on {where}"]
    for (folder, verb), (count, examples) in sorted(folders.items()):
        lines.append(f"  {folder}  ({count} to {verb})")
        lines.extend(examples)
        if count > len(examples):
            lines.append(f"    ... and {count - len(examples)} more")
    totals = {v: sum(c for (_, verb), (c, _) in folders.items() if verb == v) for v in ("move", "copy")}
    done = ", ".join(f"{n} to {v}" for v, n in totals.items() if n or (v == "move" and not totals["copy"]))
    lines.append(f"{done}, {kept} unchanged, {errors} with errors")
    return "\n".join(lines)


def _plan_storage(plan: MovePlan, signed: bool, source: str | None, yes: bool):
    """The storage an `apply` works on: the one named with --source (the plan must be for it and inside its
    prefix), or, for a plan this installation signed (or when asked interactively), the plan's own."""
    from .plan import check_header, describe_storage

    if source:
        storage, prefix = _open(source)
        if storage.record() != {k: plan.storage.get(k) for k in storage.record()}:
            raise CliError(f"plan refused: it is for {describe_storage(plan.storage)}, not for {storage.description}")
        for name in ("source_prefix", "output_prefix"):
            if not getattr(plan, name).startswith(prefix):
                raise CliError(f"plan refused: its {name} {getattr(plan, name)!r} is outside {source!r}")
    else:
        if not signed and yes:
            raise CliError("plan refused: it was not written by this installation or was edited since; name the folder "
                           "or bucket it is for with --source SRC to apply it")
        try:
            storage = jobs.storage_for_plan(plan)
        except OSError as exc:
            raise CliError(f"cannot open the plan's storage: {exc}") from None
        except ValueError as exc:
            raise CliError(f"plan refused: {exc}") from None
    try:
        check_header(plan, storage.record())
    except ValueError as exc:
        raise CliError(str(exc)) from None
    return storage


def _one_line(exc: BaseException) -> str:
    return (str(exc).splitlines() or [type(exc).__name__])[0]


def cmd_apply(args: argparse.Namespace) -> int:
    try:
        plan = PlanFile(args.plan)
        preview = _preview(plan.plan, plan.items(), args.copy)  # one pass: checks every line, and the signature
    except OSError as exc:
        raise CliError(f"cannot read plan {args.plan!r}: {exc.strerror or exc}") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise CliError(_one_line(exc)) from None
    storage = _plan_storage(plan.plan, bool(plan.signed), args.source, args.yes)
    try:  # an unfinished run over these folders: said before the preview and the question (run_plan checks again)
        jobs.refuse_over_unfinished(storage, plan.plan)
    except ValueError as exc:
        raise CliError(_one_line(exc)) from None
    print(preview, file=sys.stderr)
    if not plan.signed and not args.source:
        print(f"note: this plan was not written by this installation (or was edited); it applies to {storage.description}",
              file=sys.stderr)
    from .storage import write_access

    problem = write_access(storage)  # a read-only key: said before asking, not half-way (run_plan checks again)
    if problem:
        raise CliError(f"Not started: {problem}")
    _confirm(f"Apply this plan to {storage.description}?", args.yes)
    bar = _progress(args, "applying")
    try:
        report, event = jobs.run_plan(plan, storage, copy=args.copy, log=_log(args), progress=bar,
                                      require_signed=bool(args.yes and not args.source), on_run=_on_run)
    except (ValueError, OSError) as exc:
        raise CliError(_one_line(exc)) from None
    return _finish(args, report, event)


def _log(args: argparse.Namespace) -> SessionLog | None:
    return SessionLog(args.log) if args.log else None


def _finish(args: argparse.Namespace, report, event: dict) -> int:
    if args.json:  # streamed from the journal: flat memory for large runs
        sys.stdout.write(json.dumps({"summary": report.summary(), "stopped": report.stopped}, ensure_ascii=False)[:-1]
                         + ', "results": [')
        for n, result in enumerate(report.iter_results()):
            sys.stdout.write(("\n  " if not n else ",\n  ") + json.dumps(dataclasses.asdict(result), ensure_ascii=False))
        sys.stdout.write("\n]}\n")
    s = report.summary()
    run_id = event["extra"]["run_id"]
    _JOB["result"] = {"run_id": run_id, "summary": s, "stopped": report.stopped}
    _report_file(args, run_id)
    print(f"run {run_id}: moved {s['moved']}, copied {s['copied']}, unchanged {s['unchanged']}, failed {s['failed']}",
          file=sys.stderr)
    for err in report.errors[:50]:
        print(f"  failed: {err['key']}: {err['error']}", file=sys.stderr)
    if len(report.errors) > 50:
        print(f"  ... and {len(report.errors) - 50} more (`--json` lists them all)", file=sys.stderr)
    if report.stopped or any("`resume` tries again" in (e["error"] or "") for e in report.errors):
        print(f"run {run_id} is unfinished{': ' + report.stopped if report.stopped else ''}; "
              f"`python -m segregator resume {run_id}` finishes it", file=sys.stderr)
    return 0


def _confirm(question: str, yes: bool) -> None:
    if yes:
        return
    if not sys.stdin.isatty():
        raise NotConfirmed("not confirmed: run again with --yes")
    if input(f"{question} [y/N] ").strip().lower() not in ("y", "yes"):
        raise NotConfirmed("not confirmed: nothing changed")


def cmd_resume(args: argparse.Namespace) -> int:
    bar = _progress(args, "resuming")
    try:
        report, event = jobs.resume(args.run, log=_log(args), progress=bar, on_run=_on_run)
    except (ValueError, OSError) as exc:
        raise CliError(str(exc)) from None
    return _finish(args, report, event)


def cmd_undo(args: argparse.Namespace) -> int:
    try:
        action, run = jobs.undo_target(args.run)
        if action == "finish":
            print(f"run {run.id} (an undo of run {run.undo_of}) was interrupted: finishing it first", file=sys.stderr)
            bar = _progress(args, "undoing")
            report, event = jobs.resume(run.id, log=_log(args), progress=bar, on_run=_on_run)
            return _finish(args, report, event)
        plan, storage, lost, lost_count = jobs.undo_plan(run)
    except (ValueError, OSError) as exc:
        raise CliError(str(exc)) from None
    print(f"undo of run {run.id} on {storage.description}:", file=sys.stderr)
    print(_preview(plan.plan, plan.items(), False), file=sys.stderr)
    if lost_count:
        print(f"{lost_count} object(s) cannot be undone (changed or gone since): " + ", ".join(lost[:10])
              + (" ..." if lost_count > 10 else ""), file=sys.stderr)
    if not plan.summary_count():
        raise CliError(f"nothing of run {run.id} can be undone")
    _confirm("Undo this run?", args.yes)
    bar = _progress(args, "undoing")
    try:
        report, event = jobs.run_plan(plan, storage, log=_log(args), progress=bar, undo_of=run.id, on_run=_on_run)
    except (ValueError, OSError) as exc:
        raise CliError(str(exc)) from None
    return _finish(args, report, event)


def cmd_runs(args: argparse.Namespace) -> int:
    from .runs import run_storage_words, runs, write_export

    if args.action == "export":
        if args.run is None:
            raise CliError("runs export needs a run number")
        try:
            if args.out:
                with open(args.out, "w", encoding="utf-8", newline="") as fh:
                    n = write_export(args.run, fh, _format(args.out, args.format))
                print(f"wrote {n} row(s) to {args.out}", file=sys.stderr)
            else:
                write_export(args.run, sys.stdout, args.format or "csv")
        except ValueError as exc:
            raise CliError(str(exc)) from None
        return 0

    rows = []
    for run in runs(limit=args.limit):
        rows.append({"run": run.id, "kind": run.kind, "undo_of": run.undo_of, "plan": run.plan_kind,
                     "storage": run_storage_words(run),
                     "state": run.state, "started": run.started, "finished": run.finished,
                     "summary": run.summary, "note": run.note})
    if args.json:
        json.dump(rows, sys.stdout, indent=2, ensure_ascii=False)
        sys.stdout.write("\n")
        return 0
    for r in rows:
        s = r["summary"] or {}
        what = f"undo of run {r['undo_of']}" if r["kind"] == "undo" else r["plan"]
        print(f"run {r['run']:>5}  {r['started']}  {r['state']:<8} {what:<14} {r['storage']}  "
              f"moved {s.get('moved', 0)} copied {s.get('copied', 0)} failed {s.get('failed', 0)}")
    return 0


def _job_row(job) -> dict:
    return {"id": job.id, "kind": job.kind, "state": job.status, "label": job.label, "source": job.source,
            "phase": job.phase, "done": job.done, "total": job.total, "rate": job.rate, "eta": job.eta,
            "run_id": job.run_id, "created": job.created, "started": job.started, "finished": job.finished,
            "error": job.error, "result": job.result, "params": job.params}


def _format(path: str, given: str | None) -> str:
    return given or ("json" if str(path).lower().endswith(".json") else "csv")


def _report_file(args: argparse.Namespace, run_id) -> None:
    """apply/resume/undo --report FILE: the run's mapping (old key -> new key), CSV or JSON by extension."""
    if getattr(args, "report", None):
        from .runs import write_export

        with open(args.report, "w", encoding="utf-8", newline="") as fh:
            n = write_export(run_id, fh, _format(args.report, None))
        print(f"wrote the mapping of {n} item(s) to {args.report}", file=sys.stderr)


def cmd_jobs(args: argparse.Namespace) -> int:
    from .jobs.runner import JobStore

    store = JobStore()
    try:
        if args.action in ("cancel", "pause", "resume", "show") and args.id is None:
            raise CliError(f"jobs {args.action} needs a job number")
        if args.action in ("cancel", "pause"):
            job = store.request(args.id, args.action)
            print(f"job {job.id}: {args.action} asked; it acts on it at its next step", file=sys.stderr)
            return 0
        if args.action == "resume":
            job = store.get(args.id)
            if job.status == "paused":
                store.request(args.id, "resume")
                print(f"job {job.id} goes on", file=sys.stderr)
                return 0
            from .jobs.runner import run_job

            store.requeue(args.id)  # interrupted or failed: this process runs it now
            job = run_job(store, args.id, echo=StderrBar("resuming") if not args.quiet else None)
            print(f"job {job.id}: {job.status}" + (f": {job.error}" if job.error else ""), file=sys.stderr)
            return 0 if job.status == "done" else 1
        rows = [_job_row(store.get(args.id))] if args.action == "show" else \
            [_job_row(j) for j in store.list(limit=args.limit)]
    except ValueError as exc:
        raise CliError(str(exc)) from None
    if args.json:
        json.dump(rows[0] if args.action == "show" else rows, sys.stdout, indent=2, ensure_ascii=False)
        sys.stdout.write("\n")
        return 0
    for r in rows:
        progress = f"{r['done']}/{r['total']}" if r["total"] else ""
        print(f"job {r['id']:>5}  {r['state']:<11} {r['kind']:<13} {progress:<14} {r['source']}"
              + (f"  ({r['error']})" if r["error"] else ""))
    return 0


def cmd_unlock(args: argparse.Namespace) -> int:
    from .locking import blocking, clear

    storage, prefix = _open(args.src)
    try:
        found = blocking(storage, prefix)
    except OSError as exc:
        raise CliError(str(exc)) from None
    if not found:
        print(f"no run lock covers {args.src}", file=sys.stderr)
        return 0
    for rec in found:
        print(f"  {rec.describe()}", file=sys.stderr)
    print("Remove these only when no run is working there: a live run whose lock is removed stops at its next step.",
          file=sys.stderr)
    _confirm(f"Remove {len(found)} lock record(s)?", args.yes)
    for where in clear(storage, prefix):
        print(f"removed {where}", file=sys.stderr)
    return 0


def cmd_empty_trash(args: argparse.Namespace) -> int:
    storage, _ = _open(args.src)
    try:
        keys = jobs.trash_keys(storage)
    except OSError as exc:
        raise CliError(str(exc)) from None
    if not keys:
        print("the trash is empty", file=sys.stderr)
        return 0
    print(f"{len(keys)} object(s) in {storage.description} under _trash/ will be deleted for good", file=sys.stderr)
    if args.yes < 2:  # twice confirmed: --yes --yes, or two answers
        if args.yes == 0:
            _confirm(f"Delete {len(keys)} object(s) permanently?", False)
        if not sys.stdin.isatty():
            raise NotConfirmed("not confirmed twice: emptying the trash needs --yes --yes")
        if input("This cannot be undone. Type EMPTY to go on: ").strip() != "EMPTY":
            raise NotConfirmed("not confirmed: nothing deleted")
    try:
        event = jobs.empty_trash(storage, log=_log(args))
    except (ValueError, OSError) as exc:
        raise CliError(str(exc)) from None
    print(f"deleted {event['extra']['deleted']}, failed {len(event['extra']['failed'])}", file=sys.stderr)
    return 0


def cmd_teach(args: argparse.Namespace) -> int:
    storage, prefix = _open(args.src)
    bar = _progress(args, "embedding examples")
    try:
        model, counts, errors = jobs.teach(storage, prefix, progress=bar, workers=args.workers, cache=not args.no_cache,
                                           cluster=_cluster(args))
    except (ValueError, RuntimeError) as exc:
        raise CliError(str(exc)) from None
    except OSError as exc:
        raise CliError(f"cannot read source {args.src!r}: {exc}") from None
    out = jobs.save_taught_model(model, Path(args.out))
    summary = {"model": str(out), "categories": counts, "examples": sum(counts.values()), "errors": errors}
    if args.json:
        json.dump(summary, sys.stdout, ensure_ascii=False, indent=2)
        sys.stdout.write("\n")
    print(f"learned {jobs.describe_taught(counts)}; {len(errors)} unreadable; wrote {out}", file=sys.stderr)
    return 0


CLUSTER_HELP = ("run the analysis on a Dask cluster: its scheduler's address, or local:N to start N worker "
                "processes here (default: $SEGREGATOR_DASK_SCHEDULER, else this machine's processes)")


def _cluster(args: argparse.Namespace) -> str | None:
    from .compute import cluster_spec

    try:
        return cluster_spec(getattr(args, "cluster", None))
    except ValueError as exc:
        raise CliError(str(exc)) from None


def _cluster_errors(stream):
    """A stream of results in which a cluster that cannot do the pass ends the command with its reason."""
    from .compute import ClusterError

    try:
        yield from stream
    except ClusterError as exc:
        raise CliError(str(exc)) from None


def _serve_secrets(extra: list[str]) -> list[Path]:
    """The secrets.toml files the server will read: those given with --secrets.files, else Streamlit's places
    (~/.streamlit, the working folder's and the app's .streamlit/)."""
    given = [extra[i + 1] for i, a in enumerate(extra[:-1]) if a == "--secrets.files"]
    given += [a.split("=", 1)[1] for a in extra if a.startswith("--secrets.files=")]
    if given:
        return [Path(p) for p in given]
    app_dir = Path(__file__).resolve().parent.parent
    return [Path.home() / ".streamlit" / "secrets.toml", Path.cwd() / ".streamlit" / "secrets.toml",
            app_dir / ".streamlit" / "secrets.toml"]


def cmd_serve(args: argparse.Namespace) -> int:
    """Start the web app (streamlit run app.py) on --address/--port; refused, before anything listens, on an
    address other machines reach when sign-in is not configured (unless SEGREGATOR_ALLOW_ANONYMOUS=1)."""
    import os

    from . import auth

    extra = [a for a in args.streamlit_args if a != "--"]
    if any(a == "--server.address" or a.startswith("--server.address=") for a in extra):
        raise CliError("give the address with serve's own --address (it is checked there), not --server.address")
    try:
        policy = auth.Policy.load(auth.read_secrets(_serve_secrets(extra)))
    except ValueError as exc:
        raise CliError(str(exc)) from None
    refusal = auth.exposure_refusal(args.address, policy)
    if refusal:
        print(refusal, file=sys.stderr)
        return 2
    app = Path(__file__).resolve().parent.parent / "app.py"
    if not app.exists():
        raise CliError(f"the app is not beside this package: {app} (run from a checkout of the project)")
    if policy.sign_in:
        print(f"Sign-in on: {len(policy.editors)} editor and {len(policy.viewers)} viewer entries.", file=sys.stderr)
    elif not auth.is_loopback(args.address):
        print("WARNING: serving without sign-in (SEGREGATOR_ALLOW_ANONYMOUS=1).", file=sys.stderr)
    command = [sys.executable, "-m", "streamlit", "run", str(app), "--server.address", args.address,
               "--server.port", str(args.port), "--server.headless", "true", "--browser.gatherUsageStats", "false",
               *extra]
    sys.stdout.flush()
    os.execv(sys.executable, command)
    return 0  # not reached


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m segregator", description="Sort images by what they show.")
    sub = parser.add_subparsers(dest="command", required=True)

    def common(p: argparse.ArgumentParser, source: bool = True) -> None:
        if source:
            p.add_argument("src", metavar="SRC", help="folder of images, or r2://BUCKET/PREFIX")
            p.add_argument("--json", action="store_true", help="print one JSON array")
            p.add_argument("--plan-out", metavar="PLAN.json", help="write the move plan here (moves nothing)")
            p.add_argument("--output", metavar="PREFIX", help="output folder (default: under SRC)")
            p.add_argument("--flat", action="store_true", help="only the folder itself, not its subfolders")
            p.add_argument("--workers", type=_positive_int, default=None, help="analysis processes (default: one per core)")
            p.add_argument("--cluster", metavar="tcp://HOST:8786|local:N", help=CLUSTER_HELP)
            p.add_argument("--set", action="append", metavar="NAME=VALUE", help="change a setting, e.g. similarity.max_hamming=12")
            p.add_argument("--no-ocr", action="store_true", help="do not run Tesseract")
            p.add_argument("--no-cache", action="store_true", help="analyse every image again (no analysis cache)")
        p.add_argument("--quiet", action="store_true", help="no progress bar")
        p.add_argument("--log", metavar="PATH", help="session log file (default: $SEGREGATOR_LOG or ./segregator_session_log.json)")

    p = sub.add_parser("classify", help="classify images into the nine categories (placeholders: no_image)")
    common(p)
    p.add_argument("--examples", metavar="DIR", help="folder of known placeholder images")
    p.add_argument("--classifier", metavar="NAME|FILE",
                   help="learned (the image model; the default when it is installed), heuristic (colour and "
                        "edge features), or a classifier file written by `teach` (its categories)")
    p.add_argument("--faces-folder", metavar="NAME", help="send images with faces to this folder (face detection "
                                                           "runs with the image model; --set faces.detect=on forces it)")
    p.set_defaults(func=cmd_classify)

    p = sub.add_parser("placeholders", help="find placeholder images")
    common(p)
    p.add_argument("--examples", metavar="DIR", help="folder of known placeholder images")
    p.add_argument("--sensitivity", type=float, help="0..1, higher flags more")
    p.set_defaults(func=cmd_placeholders)

    p = sub.add_parser("similar", help="find images that look like a reference image")
    common(p)
    p.add_argument("--reference", required=True, metavar="IMAGE")
    p.add_argument("--threshold", type=int, help="max pHash distance accepted on its own (default 10)")
    p.add_argument("--pixel-threshold", type=float, help="pixel similarity that confirms a match (default 0.9)")
    p.add_argument("--embedding-threshold", type=float, metavar="X",
                   help="also match by the image model's content similarity at X (0.8 is a good start): finds "
                        "re-framed and cropped copies that hashing misses")
    p.set_defaults(func=cmd_similar)

    p = sub.add_parser("duplicates", help="find groups of copies across the collection; keep one of each, move the rest")
    common(p)
    p.add_argument("--tier", choices=("exact", "near", "similar"), default="near",
                   help="the loosest tier used: exact (same bytes), near (+ resized, recompressed, edited, mirrored "
                        "copies; the default), similar (+ re-framed and cropped copies, by the image model)")
    p.add_argument("--keep", metavar="RULE,...", help="who is kept in each group, rules in order (default "
                   "resolution,size,path): " + KEEP_RULES_HELP)
    p.add_argument("--reference-folder", action="append", metavar="DIR",
                   help="a folder (inside SRC) whose images are always kept and never moved; may repeat")
    p.add_argument("--to", metavar="trash|FOLDER",
                   help="where the other copies go: FOLDER/<group>/ inside SRC (default duplicates), or the trash")
    p.add_argument("--threshold", type=int, help="near: pHash distance of candidates (default 8; 5 for mirrored and border-cut copies)")
    p.add_argument("--pixel-threshold", type=float, help="near: pixel similarity that confirms a copy (default 0.93)")
    p.add_argument("--embedding-threshold", type=float, metavar="X", help="similar: content similarity (default 0.8)")
    p.set_defaults(func=cmd_duplicates)

    from .jobs.search import MIN_LIKENESS

    p = sub.add_parser("search", help="search the collection by tags or by likeness to an image; the hits can be "
                                      "turned into a plan (--plan-out)")
    common(p)
    p.add_argument("--tag", metavar="WORDS", help="comma-separated terms, each matching one tag of the image, e.g. "
                                                  "'red, sports car' (word beginnings are enough: 'retr')")
    p.add_argument("--category", metavar="C", help="only images of this category")
    p.add_argument("--faces", action="store_true", help="only images with faces")
    p.add_argument("--like", metavar="IMAGE", help="the images most like this one (the image model's embedding)")
    p.add_argument("--top", type=int, default=50, help="how many hits (default 50)")
    p.add_argument("--min-score", type=float, default=MIN_LIKENESS, metavar="X",
                   help=f"--like: only images at least this alike (cosine of the image model's embeddings, 0-1; "
                        f"default {MIN_LIKENESS}: unrelated photos score about 0.2, a quarter cut of the same photo 0.5-0.8)")
    p.add_argument("--to", metavar="FOLDER", help="where --plan-out sends the hits (default search_results, under SRC)")
    p.add_argument("--copy", action="store_true", help="the plan copies the hits instead of moving them")
    p.set_defaults(func=cmd_search)

    p = sub.add_parser("teach", help="learn your own categories from examples: one subfolder per category")
    p.add_argument("src", metavar="EXAMPLES_DIR", help="folder (or r2://BUCKET/PREFIX) with a subfolder per category; a subfolder 'none of these' holds examples of what to leave where it is")
    p.add_argument("--out", required=True, metavar="MODEL_FILE", help="where to write the classifier (JSON)")
    p.add_argument("--json", action="store_true", help="print a JSON summary")
    p.add_argument("--workers", type=_positive_int, default=None, help="analysis processes (default: one per core)")
    p.add_argument("--cluster", metavar="tcp://HOST:8786|local:N", help=CLUSTER_HELP)
    p.add_argument("--no-cache", action="store_true", help="embed every image again (no analysis cache)")
    common(p, source=False)
    p.set_defaults(func=cmd_teach)

    p = sub.add_parser("apply", help="execute a plan written with --plan-out")
    p.add_argument("plan", metavar="PLAN.json")
    p.add_argument("--source", metavar="SRC", help="the folder or r2://BUCKET/PREFIX the plan is for (needed with "
                                                   "--yes for a plan edited or made elsewhere)")
    p.add_argument("--yes", action="store_true", help="do not ask")
    p.add_argument("--copy", action="store_true", help="copy instead of move")
    p.add_argument("--report", metavar="FILE", help="write what moved where (old key -> new key) as CSV, or JSON "
                                                    "when FILE ends in .json")
    p.add_argument("--json", action="store_true", help="print the per-item results as JSON")
    common(p, source=False)
    p.set_defaults(func=cmd_apply, no_ocr=False)

    p = sub.add_parser("resume", help="finish an interrupted run (default: the most recent unfinished one)")
    p.add_argument("run", nargs="?", metavar="RUN", help="a run number (see `runs`)")
    p.add_argument("--report", metavar="FILE", help="write what moved where, as for apply")
    p.add_argument("--json", action="store_true", help="print the per-item results as JSON")
    common(p, source=False)
    p.set_defaults(func=cmd_resume)

    p = sub.add_parser("undo", help="put a finished run back (default: the most recent one; an interrupted undo "
                                    "is finished first)")
    p.add_argument("run", nargs="?", metavar="RUN", help="a run number (see `runs`)")
    p.add_argument("--yes", action="store_true", help="do not ask")
    p.add_argument("--report", metavar="FILE", help="write what moved where, as for apply")
    p.add_argument("--json", action="store_true", help="print the per-item results as JSON")
    common(p, source=False)
    p.set_defaults(func=cmd_undo)

    p = sub.add_parser("runs", help="list runs, newest first; `runs export RUN` writes what a run moved")
    p.add_argument("action", nargs="?", default="list", choices=["list", "export"])
    p.add_argument("run", nargs="?", metavar="RUN")
    p.add_argument("--json", action="store_true")
    p.add_argument("--limit", type=int, default=30)
    p.add_argument("--format", choices=["csv", "json"], help="export format (default: by --out's extension, else csv)")
    p.add_argument("--out", metavar="FILE", help="export to this file (default: standard output)")
    common(p, source=False)
    p.set_defaults(func=cmd_runs)

    p = sub.add_parser("jobs", help="jobs of the app and the command line: list, show, pause, resume, cancel")
    p.add_argument("action", nargs="?", default="list", choices=["list", "show", "pause", "resume", "cancel"])
    p.add_argument("id", nargs="?", type=int, metavar="ID")
    p.add_argument("--json", action="store_true")
    p.add_argument("--limit", type=int, default=30)
    common(p, source=False)
    p.set_defaults(func=cmd_jobs)

    p = sub.add_parser("unlock", help="remove run locks left on a folder or bucket (also unreadable ones)")
    p.add_argument("src", metavar="SRC", help="folder, or r2://BUCKET/PREFIX")
    p.add_argument("--yes", action="store_true", help="do not ask")
    common(p, source=False)
    p.set_defaults(func=cmd_unlock)

    p = sub.add_parser("serve", help="start the web app; without sign-in ([auth] in .streamlit/secrets.toml) only on "
                       "this machine's loopback address, unless SEGREGATOR_ALLOW_ANONYMOUS=1")
    p.add_argument("--address", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8501)
    p.add_argument("streamlit_args", nargs=argparse.REMAINDER, help="passed on to `streamlit run` (after --)")
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("empty-trash", help="delete everything under _trash/ for good (asks twice)")
    p.add_argument("src", metavar="SRC", help="folder, or r2://BUCKET")
    p.add_argument("--yes", action="count", default=0, help="give twice to skip both questions")
    common(p, source=False)
    p.set_defaults(func=cmd_empty_trash)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    try:
        from dotenv import load_dotenv

        load_dotenv()
    except ImportError:  # python-dotenv is in requirements; tolerate its absence
        pass
    args = build_parser().parse_args(argv)
    try:
        if args.command in JOB_COMMANDS:
            return _as_job(args)
        return args.func(args)
    except CliError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        run_id = _JOB.get("run_id")
        print("\ninterrupted" + (f": run {run_id} is unfinished; `python -m segregator resume {run_id}` finishes it "
                                 f"(or `undo {run_id}` puts back what it moved)" if run_id is not None else ""),
              file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader went away (`... | head`): stop quietly, as Unix tools do
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
