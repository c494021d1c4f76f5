"""`vsfa build-rejection-mix` and the shared builder infrastructure (io.py, builders/outputs.py, records/).

The reference-compat test compares against an independent, load-everything transcription of the paper's
released mixing script (ybwang119/MLLM_safety_study, utils/mix_rejection_data.py, run with
--change_reply --random_choose), written out below.
"""

from __future__ import annotations

import json
import os
import random

import pytest
from PIL import Image

from vsfa_plugins import io as vio
from vsfa_plugins.builders import outputs
from vsfa_plugins.records import errors as rerrors, images as rimages, scan as rscan, source as rsource
from vsfa_plugins.builders.rejection_mix import build_rejection_mix, is_follow_up, resolve_counts
from vsfa_plugins.cli import main as vsfa_main
from vsfa_plugins.records import REFUSAL_SENTENCE, RecordError, validate_file

# --------------------------------------------------------------------------------------------------
# the paper's script, transcribed (load everything, list membership, global random seeded once)
# --------------------------------------------------------------------------------------------------


def paper_mix_rejection_data(file1, file2, sample_size1, sample_size2, seed=0, reply=REFUSAL_SENTENCE):
    """mix_rejection_data.py with --change_reply --random_choose; returns (combined list, rows of file1)."""
    state = random.getstate()
    random.seed(seed)  # the script calls random.seed(0) at import
    try:
        def read_json_to_list(file_path):
            with open(file_path, "r", encoding="utf-8") as file:
                return json.load(file)

        def get_random_samples(data_list, sample_size, iexclude_indices=list(), similar=False):
            if similar:
                available_samples = [i for i in data_list if i["id"] in iexclude_indices]
            else:
                available_samples = [i for i in data_list if i["id"] not in iexclude_indices]
            selected_samples = random.sample(available_samples, sample_size)
            return selected_samples, [i["id"] for i in selected_samples]

        list1 = read_json_to_list(file1)
        list2 = read_json_to_list(file2)
        random_sample_list1, indices1 = get_random_samples(list1, min(sample_size1, len(list1)))
        random_sample_list2, _ = get_random_samples(list2, min(sample_size2, len(list2)), iexclude_indices=indices1)
        for i in random_sample_list1:  # --random_choose
            length = len(i["conversations"]) / 2
            while True:
                pick = random.choice(range(1, int(length) + 1))
                temp = i["conversations"][2 * pick - 2:2 * pick]
                assert temp[0]["from"] == "human" and temp[1]["from"] == "gpt"
                if "what about" not in temp[0]["value"].lower():
                    temp[0]["value"] = temp[0]["value"].replace("\n<image>", "")
                    if not temp[0]["value"].startswith("<image>\n"):
                        temp[0]["value"] = f"<image>\n{temp[0]['value']}"
                    i["conversations"] = temp
                    break
        for i in random_sample_list1:  # --change_reply
            i["conversations"][1]["value"] = reply
        combined_random_samples = random_sample_list1 + random_sample_list2
        random.shuffle(combined_random_samples)
        return combined_random_samples, random_sample_list1
    finally:
        random.setstate(state)


# --------------------------------------------------------------------------------------------------
# fixtures: LLaVA-shaped files whose ids repeat (ids name images, as in llava_v1_5_mix665k.json)
# --------------------------------------------------------------------------------------------------

QUESTIONS = ["What is in the picture?", "What colour is the car?", "How many people are there?",
             "What about the sky?", "Describe the scene.", "Is it daytime?", "What about the left side?",
             "Where is the dog?"]


def _images(folder, n):
    os.makedirs(folder / "img", exist_ok=True)
    for i in range(n):
        Image.new("RGB", (8, 8), (i * 9 % 256, 40, 200 - i)).save(folder / "img" / f"{i:04d}.png")


def llava_rows(seed, n, id_pool=30, text_only_every=0):
    rng = random.Random(seed)
    tag = f"s{seed}-"
    rows = []
    for r in range(n):
        k = rng.randrange(id_pool)
        text_only = text_only_every and r % text_only_every == 0
        conv = []
        for t in range(rng.randint(1, 4)):
            q = rng.choice(QUESTIONS if t else [q for q in QUESTIONS if "about" not in q]) + f" ({tag}{r}.{t})"
            if t == 0 and not text_only:
                q = "<image>\n" + q if rng.random() < 0.7 else q + "\n<image>"
            conv += [{"from": "human", "value": q}, {"from": "gpt", "value": f"Answer {tag}{r}.{t}."}]
        row = {"id": f"{k:06d}"}
        if not text_only:
            row["image"] = f"img/{k:04d}.png"
        row["conversations"] = conv
        rows.append(row)
    return rows


def write(path, rows, jsonl=False):
    with open(path, "w", encoding="utf-8") as f:
        if jsonl:
            f.writelines(json.dumps(r) + "\n" for r in rows)
        else:
            json.dump(rows, f, indent=4)
    return path


@pytest.fixture()
def sources(tmp_path):
    _images(tmp_path, 30)
    benign = write(tmp_path / "benign.json", llava_rows(1, 40))
    instruct = write(tmp_path / "instruct.json", llava_rows(2, 80))
    return tmp_path, benign, instruct


def read_rows(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f]


def out_files(folder):
    return {name: (folder / name).read_bytes() for name in sorted(os.listdir(folder))}


# --------------------------------------------------------------------------------------------------
# the recipe
# --------------------------------------------------------------------------------------------------


def test_builds_a_valid_mix_with_the_refusal_and_counts(sources):
    root, benign, instruct = sources
    res = build_rejection_mix(str(benign), str(instruct), str(root / "out"), num_rejection=8, num_instruct=20)
    report = validate_file(res.dataset, "rejection_mix")  # images resolved too
    assert report.by_kind["rejection"] == 8 and report.by_kind["instruct"] == 20
    rows = read_rows(res.dataset)
    src_b = {json.dumps(r["conversations"]) for r in json.loads(benign.read_text())}
    src_questions = {}
    for r in json.loads(benign.read_text()):
        for m in r["conversations"][0::2]:
            src_questions[rsource.strip_image_tags(m["value"])] = r["image"]
    src_i = [json.dumps(r["conversations"]) for r in json.loads(instruct.read_text())]
    for row in rows:
        conv = row["conversations"]
        if row["kind"] == "rejection":
            assert len(conv) == 2 and conv[1]["value"] == REFUSAL_SENTENCE == "I'm sorry, but I cannot assist with your request"
            q = conv[0]["value"]
            assert q.startswith("<image>\n") and q.count("<image>") == 1
            assert os.path.basename(row["images"][0]) == os.path.basename(src_questions[q[len("<image>\n"):]])
            assert os.path.isabs(row["images"][0])  # default --image-paths absolute
        else:
            assert json.dumps(conv) in src_i and json.dumps(conv) not in src_b  # unchanged
    assert len({r["id"] for r in rows}) == len(rows)  # unique ids although the sources repeat them
    stats = json.loads((root / "out" / "stats.json").read_text())
    assert stats["kept"] == 28 and stats["rows_in"] == 120 and stats["rejected"]["total"] == 0
    assert stats["kept"] + stats["not_selected"] == stats["rows_in"]
    assert stats["sources"][0]["sha256"] == vio.sha256_file(benign)
    assert stats["outputs"]["rejection_mix.jsonl"]["sha256"] == vio.sha256_file(res.dataset)
    assert json.loads((root / "out" / "dataset_info.json").read_text()) == {
        "rejection_mix": {"file_name": "rejection_mix.jsonl", "formatting": "rejection_mix"}}
    assert (root / "out" / "rejected.jsonl").read_text() == ""


def test_same_seed_gives_identical_bytes_another_seed_differs(sources):
    root, benign, instruct = sources
    outs = []
    for name, seed in (("a", 3), ("b", 3), ("c", 4)):
        build_rejection_mix(str(benign), str(instruct), str(root / name), num_rejection=6, num_instruct=15, seed=seed,
                            output_format="json")
        outs.append(out_files(root / name))
    assert outs[0] == outs[1]
    assert outs[0]["rejection_mix.json"] != outs[2]["rejection_mix.json"]
    assert json.loads(outs[0]["rejection_mix.json"])  # a JSON array


def test_ratio_and_total():
    assert resolve_counts(None, None, 0.1, 100) == (10, 90)
    assert resolve_counts(5, 7, None, None) == (5, 7)
    for bad in ((5, None, None, None), (1, 2, 0.1, 10), (None, None, 1.5, 10), (None, None, 0.1, None)):
        with pytest.raises(ValueError):
            resolve_counts(*bad)


def test_follow_up_rule():
    assert is_follow_up("What about the sky?") and is_follow_up("<image>\nwhat ABOUT it?")
    assert is_follow_up("How about the left one?") and is_follow_up("<image>\nAnd what is behind it?")
    assert not is_follow_up("<image>\nWhat is on the table?") and not is_follow_up("Describe the image.")


def test_one_turn_is_drawn_and_follow_ups_are_never_refused(tmp_path):
    _images(tmp_path, 4)
    rows = []
    for i in range(12):  # every turn but one is a follow-up
        conv = []
        standalone = i % 3
        for t in range(3):
            q = f"What is object {i}?" if t == standalone else f"What about object {i}.{t}?"
            conv += [{"from": "human", "value": ("<image>\n" if t == 0 else "") + q}, {"from": "gpt", "value": "A."}]
        rows.append({"id": f"r{i}", "image": f"img/{i % 4:04d}.png", "conversations": conv})
    rows.append({"id": "only-follow-ups", "image": "img/0000.png", "conversations": [
        {"from": "human", "value": "<image>\nWhat about it?"}, {"from": "gpt", "value": "B."}]})
    benign = write(tmp_path / "b.json", rows)
    instruct = write(tmp_path / "i.json", llava_rows(5, 10, id_pool=4))
    res = build_rejection_mix(str(benign), str(instruct), str(tmp_path / "out"), num_rejection=12, num_instruct=3)
    for row in read_rows(res.dataset):
        if row["kind"] == "rejection":
            i = int(row["id"][1:])
            assert row["conversations"][0]["value"] == f"<image>\nWhat is object {i}?"
    assert res.stats["counts"]["benign_rows_without_standalone_turn"] == 1
    assert res.stats["counts"]["rejection_turn_index"] == {"0": 4, "1": 4, "2": 4}
    with pytest.raises(RecordError, match="only 12 benign rows can be drawn"):
        build_rejection_mix(str(benign), str(instruct), str(tmp_path / "o2"), num_rejection=13, num_instruct=0)


def test_refusal_is_overridable_and_keep_eos_format(sources):
    root, benign, instruct = sources
    res = build_rejection_mix(str(benign), str(instruct), str(root / "out"), num_rejection=3, num_instruct=2,
                              refusal="No.", formatting="rejection_mix_keep_eos", name="mix2")
    assert [r["conversations"][1]["value"] for r in read_rows(res.dataset) if r["kind"] == "rejection"] == ["No."] * 3
    assert json.loads((root / "out" / "dataset_info.json").read_text())["mix2"]["formatting"] == "rejection_mix_keep_eos"


def test_same_file_in_both_roles_never_uses_a_row_twice(sources):
    root, benign, _ = sources
    res = build_rejection_mix(str(benign), str(benign), str(root / "out"), num_rejection=5, num_instruct=10)
    rows = read_rows(res.dataset)
    refused_images = {r["images"][0] for r in rows if r["kind"] == "rejection"}
    assert not refused_images & {r["images"][0] for r in rows if r["kind"] == "instruct"}  # ids (images) excluded
    assert res.stats["rows_in"] == 80  # counted once per role
    assert [s["role"] for s in res.stats["sources"]] == ["benign", "instruct"]


# --------------------------------------------------------------------------------------------------
# --compat reference
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("n1, n2, seed", [(10, 25, 0), (7, 40, 1), (60, 20, 2), (1, 0, 5)])
def test_compat_reference_selects_exactly_the_scripts_rows(sources, n1, n2, seed):
    root, benign, instruct = sources
    expected, from_file1 = paper_mix_rejection_data(str(benign), str(instruct), n1, n2, seed=seed)
    rejection_objs = {id(o) for o in from_file1}
    res = build_rejection_mix(str(benign), str(instruct), str(root / f"out{seed}"), num_rejection=n1,
                              num_instruct=n2, seed=seed, compat="reference", image_paths="source")
    got = read_rows(res.dataset)
    assert len(got) == len(expected)
    for ours, theirs in zip(got, expected):
        assert ours["id"].split("#")[0] == str(theirs["id"])
        assert ours["kind"] == ("rejection" if id(theirs) in rejection_objs else "instruct")
        assert ours["images"] == [theirs["image"]]
        assert ours["conversations"] == theirs["conversations"]
    validate_file(res.dataset, "rejection_mix", media_roots=[str(root)])


def test_compat_reference_on_one_file_in_both_roles_and_jsonl(tmp_path):
    _images(tmp_path, 30)
    rows = llava_rows(9, 50)
    both = write(tmp_path / "mix.json", rows)
    expected, _ = paper_mix_rejection_data(str(both), str(both), 6, 30, seed=0)
    jsonl = write(tmp_path / "mix.jsonl", rows, jsonl=True)
    res = build_rejection_mix(str(jsonl), str(jsonl), str(tmp_path / "out"), num_rejection=6, num_instruct=30,
                              compat="reference", image_paths="source")
    got = read_rows(res.dataset)
    assert [(g["id"].split("#")[0], g["conversations"]) for g in got] == [
        (e["id"], e["conversations"]) for e in expected]


def test_compat_reference_errors_like_the_script(tmp_path):
    _images(tmp_path, 30)
    benign = write(tmp_path / "b.json", llava_rows(1, 10, id_pool=3))
    instruct = write(tmp_path / "i.json", llava_rows(2, 10, id_pool=3))
    # every instruct id is excluded by the picked benign rows: the script's random.sample raises
    with pytest.raises(RecordError, match="only 0 are available"):
        build_rejection_mix(str(benign), str(instruct), str(tmp_path / "o"), num_rejection=10, num_instruct=5,
                            compat="reference")
    rows = llava_rows(1, 5)
    del rows[2]["id"]
    no_id = write(tmp_path / "noid.json", rows)
    with pytest.raises(RecordError, match=r"noid\.json:\d+ \(row 2\): no 'id'"):
        build_rejection_mix(str(no_id), str(instruct), str(tmp_path / "o"), num_rejection=1, num_instruct=1,
                            compat="reference")
    rows = llava_rows(1, 5)
    rows[3]["conversations"] = [{"from": "human", "value": "<image>\nWhat about this?"}, {"from": "gpt", "value": "x"}]
    loops = write(tmp_path / "loop.json", rows)
    with pytest.raises(RecordError, match=r"loop\.json:\d+ \(row 3\).*would loop forever"):
        build_rejection_mix(str(loops), str(instruct), str(tmp_path / "o"), num_rejection=5, num_instruct=1,
                            compat="reference")
    res = build_rejection_mix(str(loops), str(instruct), str(tmp_path / "o"), num_rejection=5, num_instruct=0,
                              compat="reference", skip_bad=True)  # the script would hang; we drop the row
    assert res.stats["rejected"]["by_reason"] == {"no_eligible_turn": 1} and res.stats["kept"] == 4


def test_compat_reference_only_rows_it_draws_must_be_good(sources):
    # like the script, a bad row that is never drawn does not matter: the selection is still the script's
    root, benign, instruct = sources
    rows = json.loads(instruct.read_text())
    expected, _ = paper_mix_rejection_data(str(benign), str(instruct), 5, 10, seed=0)
    drawn = {json.dumps(e) for e in expected}
    victim = next(i for i, r in enumerate(rows) if json.dumps(r) not in drawn and r["id"] not in {e["id"] for e in expected})
    rows[victim]["conversations"] = [{"from": "gpt", "value": "wrong roles"}]
    bad = write(root / "instruct_bad.json", rows)
    res = build_rejection_mix(str(benign), str(bad), str(root / "o"), num_rejection=5, num_instruct=10,
                              compat="reference", image_paths="source")
    assert [r["conversations"] for r in read_rows(res.dataset)] == [e["conversations"] for e in expected]
    assert res.stats["not_selected"] == 40 + 80 - 15


def test_compat_reference_text_only_benign_row_gets_no_tag(tmp_path):
    _images(tmp_path, 30)
    benign = write(tmp_path / "b.json", llava_rows(3, 6, text_only_every=1))
    instruct = write(tmp_path / "i.json", llava_rows(4, 5))
    res = build_rejection_mix(str(benign), str(instruct), str(tmp_path / "o"), num_rejection=6, num_instruct=0,
                              compat="reference")
    for row in read_rows(res.dataset):
        assert "<image>" not in row["conversations"][0]["value"] and "images" not in row
    assert res.stats["counts"]["reference_text_only_rejection_rows"] == 6


# --------------------------------------------------------------------------------------------------
# bad input: file:line errors, --skip-bad accounting, never a partial output
# --------------------------------------------------------------------------------------------------

GOOD = {"id": "g", "image": "img/0000.png", "conversations": [
    {"from": "human", "value": "<image>\nWhat is it?"}, {"from": "gpt", "value": "A thing."}]}
BAD_LINES = {
    "malformed_json": '{"id": "x", "conversations": [',
    "empty_conversation": json.dumps({"id": "e", "conversations": []}),
    "wrong_roles": json.dumps({"id": "w", "conversations": [{"from": "gpt", "value": "hi"}, {"from": "human", "value": "q"}]}),
    "no_conversation": json.dumps({"id": "n", "text": "hello"}),
    "missing_image": json.dumps({**GOOD, "id": "m", "image": "img/nope.png"}),
    "path_escape": json.dumps({**GOOD, "id": "p", "image": "../img/0000.png"}),
    "corrupt_image": json.dumps({**GOOD, "id": "c", "image": "img/corrupt.png"}),
}


def _bad_jsonl(tmp_path, bad_kinds):
    _images(tmp_path, 4)
    (tmp_path / "img" / "corrupt.png").write_bytes(b"\x89PNG not really")
    lines = []
    for i in range(6):
        lines.append(json.dumps({**GOOD, "id": f"g{i}", "image": f"img/{i % 4:04d}.png"}))
    for kind in bad_kinds:
        lines.insert(3, BAD_LINES[kind])
    data = ("\n".join(lines) + "\n").encode()
    return data


@pytest.mark.parametrize("kind", sorted(BAD_LINES) + ["non_utf8"])
def test_bad_row_stops_the_build_naming_file_and_line(tmp_path, kind):
    if kind == "non_utf8":
        data = _bad_jsonl(tmp_path, []).replace(b'"g2"', b'"g\xff2"')
        line = 3
    else:
        data = _bad_jsonl(tmp_path, [kind])
        line = 4
    path = tmp_path / "benign.jsonl"
    path.write_bytes(data)
    instruct = write(tmp_path / "i.json", [dict(GOOD, id=f"i{i}") for i in range(3)])
    with pytest.raises(RecordError) as err:  # every benign row is selected, so image problems surface too
        build_rejection_mix(str(path), str(instruct), str(tmp_path / "out"), num_rejection=6, num_instruct=1)
    assert f"benign.jsonl:{line}" in str(err.value)
    assert not (tmp_path / "out").exists() or not os.listdir(tmp_path / "out")  # nothing written, no temp file


def test_skip_bad_writes_rejects_and_the_counts_add_up(tmp_path):
    data = _bad_jsonl(tmp_path, sorted(BAD_LINES)).replace(b'"g5"', b'"g\xff5"')
    path = tmp_path / "benign.jsonl"
    path.write_bytes(data + json.dumps({**GOOD, "id": "g0", "image": "img/0001.png"}).encode() + b"\n")
    instruct = write(tmp_path / "i.json", [dict(GOOD, id=f"i{i}") for i in range(3)])
    res = build_rejection_mix(str(path), str(instruct), str(tmp_path / "out"), num_rejection=8, num_instruct=2,
                              skip_bad=True, duplicate_ids="error")
    rejected = read_rows(tmp_path / "out" / "rejected.jsonl")
    reasons = sorted(r["reason"] for r in rejected)
    assert reasons == sorted(list(BAD_LINES) + ["non_utf8", "duplicate_id"])
    lines = path.read_bytes().split(b"\n")
    for r in rejected:
        assert r["path"] == str(path) and r["message"].startswith(f"{path}:{r['line']}")
        assert r["reason"] == "non_utf8" or str(r.get("id") or "") in lines[r["line"] - 1].decode("utf-8", "replace")
    s = res.stats
    assert s["rejected"]["total"] == 9 and s["rows_in"] == 14 + 3
    assert s["kept"] + s["rejected"]["total"] + s["not_selected"] == s["rows_in"]
    assert s["sources"][0]["kept"] + s["sources"][0]["rejected"] + s["sources"][0]["not_selected"] == 14
    validate_file(res.dataset, "rejection_mix")
    assert len(read_rows(res.dataset)) == s["kept"]


def test_json_array_syntax_error_cannot_be_skipped(tmp_path):
    path = tmp_path / "b.json"
    path.write_text('[\n {"id": "a", "conversations": []},\n {"id": "b", oops}\n]\n')
    with pytest.raises(RecordError, match=r"b\.json:3: malformed JSON"):
        build_rejection_mix(str(path), str(path), str(tmp_path / "out"), num_rejection=1, num_instruct=0, skip_bad=True)


def test_failed_build_keeps_the_previous_outputs_and_leaves_no_temp_files(sources):
    root, benign, instruct = sources
    build_rejection_mix(str(benign), str(instruct), str(root / "out"), num_rejection=4, num_instruct=4)
    before = out_files(root / "out")
    (root / "img" / "0003.png").unlink()  # some selected rows now miss their image
    with pytest.raises(RecordError, match="image not found"):
        build_rejection_mix(str(benign), str(instruct), str(root / "out"), num_rejection=40, num_instruct=20)
    assert out_files(root / "out") == before


def test_outputs_commit_all_or_nothing(tmp_path):
    with pytest.raises(RuntimeError):
        with outputs.Outputs(tmp_path / "o") as out:
            w = out.dataset("d.jsonl")
            w.write({"a": 1})
            out.text("stats.json", "{}")
            raise RuntimeError("boom")
    assert os.listdir(tmp_path / "o") == []
    with outputs.Outputs(tmp_path / "o") as out:
        w = out.dataset("d.json")
        for i in range(3):
            w.write({"b": i, "a": "é"})
        w.close()
    assert (tmp_path / "o" / "d.json").read_text(encoding="utf-8") == (
        '[\n{"b":0,"a":"é"},\n{"b":1,"a":"é"},\n{"b":2,"a":"é"}\n]\n')
    assert oct(os.stat(tmp_path / "o" / "d.json").st_mode & 0o777) != oct(0o600)


def test_row_serialisation_is_the_same_with_and_without_orjson(monkeypatch):
    row = {"id": "x\u0001\u001f\u007f\u2028\"\\\n\t é 漢 😀", "kind": "instruct", "n": [1, True, None, -5, 2**70],
           "conversations": [{"from": "human", "value": "<image>\nQ?"}], "z": {}}
    fast = vio.dumps_row(row)
    monkeypatch.setattr(vio, "_orjson", None)
    assert vio.dumps_row(row) == fast and json.loads(fast) == row
    assert vio.dumps_row({"b": 1, "a": 2}, sort_keys=True) == '{"a":2,"b":1}'


def test_scan_rows_offsets_lines_and_errors(tmp_path):
    rows = [{"id": i, "t": "é漢" * (i % 5) + "x" * i} for i in range(50)]
    for name, text in (("a.json", json.dumps(rows, ensure_ascii=False, indent=2)),
                       ("b.jsonl", "\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n")):
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        fd = os.open(path, os.O_RDONLY)
        lines = text.split("\n")
        for block in (5, 64, 1 << 20):
            got = list(rscan.scan_rows(path, block=block))
            assert [g.obj for g in got] == rows
            for g in got:
                assert rscan.read_row_at(fd, g.start, g.length) == g.obj
                assert lines[g.line - 1].strip() in ("{", json.dumps(g.obj, ensure_ascii=False))
        os.close(fd)
    bad = tmp_path / "c.json"
    bad.write_bytes(b'[\n{"a": 1},\n{"a": "\xff"}\n]\n')
    with pytest.raises(RecordError, match=r"c\.json:3: not valid UTF-8"):
        list(rscan.scan_rows(bad))
    bad.write_bytes(b'[\n{"a": 1},\n{"a": 2}\n')
    with pytest.raises(RecordError, match=r"c\.json:\d+: truncated"):
        list(rscan.scan_rows(bad))
    bad.write_bytes(b'[{"a": 1}] trailing')
    with pytest.raises(RecordError, match="after the closing"):
        list(rscan.scan_rows(bad))


def test_merge_dataset_info_into_a_labs_file(tmp_path):
    info = tmp_path / "lab" / "dataset_info.json"
    info.parent.mkdir()
    info.write_text(json.dumps({"stock": {"file_name": "s.json"}}))
    data = tmp_path / "lab" / "mine" / "mix.jsonl"
    outputs.merge_dataset_info(info, outputs.dataset_info_entry("mix", "mix.jsonl", "rejection_mix"), built_in=str(data.parent))
    merged = json.loads(info.read_text())
    assert merged == {"stock": {"file_name": "s.json"},
                      "mix": {"file_name": os.path.join("mine", "mix.jsonl"), "formatting": "rejection_mix"}}
    with pytest.raises(RecordError, match="already has a different entry"):
        outputs.merge_dataset_info(info, outputs.dataset_info_entry("mix", "x.jsonl", "vsfa"), built_in=str(tmp_path))


def test_normalizes_sharegpt_and_alpaca_sources(tmp_path):
    _images(tmp_path, 2)
    share = [{"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "<image>Hi?"},
                           {"role": "assistant", "content": "Hello."}], "images": ["img/0000.png"]}]
    alpaca = [{"instruction": "Add", "input": "1 and 2", "output": "3",
               "history": [["Ready?", "Yes."]]}]
    b = write(tmp_path / "share.json", share)
    a = write(tmp_path / "alpaca.jsonl", alpaca, jsonl=True)
    res = build_rejection_mix(str(b), str(a), str(tmp_path / "o"), num_rejection=1, num_instruct=1)
    rows = {r["kind"]: r for r in read_rows(res.dataset)}
    assert rows["rejection"]["conversations"][0]["value"] == "<image>\nHi?"
    assert rows["rejection"]["system"] == "Be brief." and rows["rejection"]["id"] == "benign-0"
    assert rows["instruct"]["conversations"] == [
        {"from": "human", "value": "Ready?"}, {"from": "gpt", "value": "Yes."},
        {"from": "human", "value": "Add\n1 and 2"}, {"from": "gpt", "value": "3"}]
    validate_file(res.dataset, "rejection_mix")


def test_image_checks_header_and_decode(tmp_path):
    from vsfa_plugins.records.reader import Location

    _images(tmp_path, 40)
    good = (tmp_path / "img" / "0000.png").read_bytes()
    (tmp_path / "img" / "cut.png").write_bytes(good[: len(good) // 2])  # valid header, truncated data
    (tmp_path / "img" / "empty.png").write_bytes(b"")
    loc = Location("d.jsonl", 7, 6)
    header = rimages.ImageChecker([str(tmp_path)], check="header")
    with pytest.raises(rerrors.BadRow, match="cut.png") as cut:  # no PNG end marker: PIL decodes it, and fails
        header.output_paths(["img/cut.png"], loc, "x")
    assert cut.value.reason == "corrupt_image"
    with pytest.raises(RecordError, match=r"d\.jsonl:7 \(row 6\) \(id=x\): corrupt or unreadable image"):
        header.output_paths(["img/empty.png"], loc, "x")
    decode = rimages.ImageChecker([str(tmp_path)], check="decode")
    with pytest.raises(rerrors.BadRow, match="corrupt or unreadable image") as err:
        decode.output_paths(["img/cut.png"], loc, "x")
    assert err.value.reason == "corrupt_image"
    exists = rimages.ImageChecker([str(tmp_path)], check="exists")
    exists.prefetch([f"img/{i:04d}.png" for i in range(40)] + ["img/cut.png", "img/empty.png"])  # threaded
    assert len(exists._resolved) == 42
    assert exists.output_paths(["img/empty.png"], loc, None)
    with pytest.raises(rerrors.BadRow, match="image not found"):
        exists.output_paths(["img/none.png"], loc, None)


def test_image_path_modes(sources):
    root, benign, instruct = sources
    res = build_rejection_mix(str(benign), str(instruct), str(root / "data" / "out"), num_rejection=2, num_instruct=2,
                              image_paths="source")
    assert all(r["images"][0].startswith("img/") for r in read_rows(res.dataset))
    with pytest.raises(RecordError, match="outside the output folder"):
        build_rejection_mix(str(benign), str(instruct), str(root / "data" / "out2"), num_rejection=2, num_instruct=2,
                            image_paths="relative")
    res = build_rejection_mix(str(benign), str(instruct), str(root / "o3"), num_rejection=2, num_instruct=2,
                              image_paths="relative", allow_path_escape=True)
    assert all(r["images"][0].startswith("../img/") for r in read_rows(res.dataset))


# --------------------------------------------------------------------------------------------------
# CLI and LLaMA-Factory
# --------------------------------------------------------------------------------------------------


def test_cli_builds_and_reports_errors(sources, capsys):
    root, benign, instruct = sources
    rc = vsfa_main(["build-rejection-mix", "--benign", str(benign), "--instruct", str(instruct), "--rejection-ratio",
                    "0.2", "--total", "10", "--out-dir", str(root / "cli"), "--seed", "7"])
    assert rc == 0 and "10 rows (instruct=8, rejection=2)" in capsys.readouterr().out
    res = build_rejection_mix(str(benign), str(instruct), str(root / "py"), num_rejection=2, num_instruct=8, seed=7)
    assert (root / "cli" / "rejection_mix.jsonl").read_bytes() == open(res.dataset, "rb").read()
    bad = root / "bad.jsonl"
    bad.write_text(json.dumps(GOOD) + "\n{oops\n")
    rc = vsfa_main(["build-rejection-mix", "--benign", str(bad), "--instruct", str(instruct), "--num-rejection", "1",
                    "--num-instruct", "1", "--out-dir", str(root / "cli2")])
    assert rc == 1 and f"{bad}:2: malformed JSON" in capsys.readouterr().err


def test_built_mix_tokenizes_through_llamafactory(tiny_qwen2vl, sources, tmp_path):
    from test_llamafactory_data import IGNORE, eos_label_at_reply_end, tokenized, trained_text

    root, benign, instruct = sources
    res = build_rejection_mix(str(benign), str(instruct), str(root / "lf"), num_rejection=3, num_instruct=5,
                              name="built_mix")
    rows, tok = tokenized(tiny_qwen2vl, root / "lf", "built_mix", "qwen2_vl", tmp_path)
    source = read_rows(res.dataset)
    assert len(rows) == len(source) == 8
    for row, src in zip(rows, source):
        text = trained_text(row, tok)
        if src["kind"] == "rejection":
            assert REFUSAL_SENTENCE in text and eos_label_at_reply_end(row, tok.eos_token_id) == IGNORE
        else:
            assert src["conversations"][-1]["value"] in text
