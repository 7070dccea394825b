"""Everything a Chinese reader sees is in Chinese: every command's output, the report and the
dashboard pages, rendered in zh on one small demo world, hold no English word beyond the data's
own values (ids, product and campaign names), units and the brand names of the trade (RFM, CLV,
NPS …); and nothing a user reads names an internal source document, a module or a feature
column, or carries a raw backtick."""

from __future__ import annotations

import csv
import html as html_lib
import re

import pytest
from typer.testing import CliRunner

from upmarket.cli import app
from upmarket.i18n import label

runner = CliRunner()

#: Words that stay as they are in a Chinese text: measures and methods the trade names in
#: English (RFM, CLV …), units and symbols, and the letters of grades and test arms.
ALLOWED = {
    "RFM", "CLV", "CLTV", "NPS", "CAC", "ROI", "HHI", "KPI", "AUC", "UTC", "CSAT", "SKU", "BG",
    "NBD", "MBG", "BB", "Pareto", "Gamma", "sBG", "CSV", "Excel", "xlsx", "csv", "HTML", "A4",
    "API", "ID", "App", "Top", "MB", "pt", "vs", "GMV", "AOV", "SLA",
    "CRM", "VIP", "CRD", "CON", "CHN", "OPS", "REP", "ANO", "upmarket", "UTF", "PDF",
    "Plotly", "English", "Benjamini", "Hochberg", "R²", "BAV", "Hill", "MAPE", "BTYD",
}

#: Commands a user runs after `upmarket run`, each in Chinese.
COMMANDS = [
    ["segments", "list"], ["segments", "list", "--by", "tier"],
    ["whatif", "--retention", "+5pt", "--frequency", "+10%"],
    ["attribution"], ["tasks", "list"], ["risk"], ["scorecard"], ["experiments"], ["budget"],
    ["cohorts"], ["promotions"], ["funnel"], ["actions", "list"], ["alerts", "list"],
    ["customers", "show", "C000001"], ["recommend", "C000001"],
    ["members", "summary"], ["members", "show", "C000001"],
    ["holdout", "--calibration-end", "2025-06-01"], ["actions", "impact"], ["status"],
    ["keys", "create", "客服系统", "--scope", "read", "--scope", "export"], ["keys", "list"],
    ["consents", "set", "C000002", "--channel", "wechat", "--withdrawn", "--source", "客服热线"],
    ["consents", "list", "C000002"],
]


def english_words(text: str, data_values: list[str], data_words: frozenset = frozenset()) -> set[str]:
    """The English words of `text` once the data's own values (and words) are taken out."""
    for value in data_values:
        text = text.replace(value, " ")
    # commands, also when the terminal's width wrapped them, and environment variables' names
    text = re.sub(r"upmarket(?:(?: ?\n| )[^\s」）)]+)+|export\s+[A-Z_\s]+=\S+|\bUPMARKET_[A-Z_]+\b",
                  " ", text)
    text = re.sub(r"[a-z]+://[^\s（]+|(?<![\w/])[\w.~-]*/[\w./-]+|(?<!\w)--[a-z][\w-]*", " ",
                  text)  # addresses, paths, options
    text = re.sub(r"\b[A-Z][A-Z-]{0,6}\d+[\w-]*\b|\b\d+[a-z]*\b|\b[0-9a-f]{8,}\b|p_[0-9a-f]+|erased_[0-9a-f]+|um_[0-9a-f]+_…|\d{14}_[0-9a-f]+|[A-Za-z]+…", " ",
                  text)  # ids, numbers with units, run ids and pseudonyms
    words = set(re.findall(r"[A-Za-z][A-Za-z]*", text))
    return {w for w in words if w not in ALLOWED and w not in data_words
            and not (len(w) == 1 and w != "h")}  # symbols of a formula; hours are 小时


def visible_text(page: str) -> str:
    """What a reader sees of an HTML page: no scripts, styles or tags, and no code — what a
    user types, such as the segment builder's field names, is syntax in every language."""
    page = re.sub(r"(?is)<(script|style|code)\b.*?</\1>", " ", page)
    page = re.sub(r"(?s)<!--.*?-->", " ", page)
    page = re.sub(r"(?s)<[^>]+>", " ", page)
    return html_lib.unescape(page)


def chart_text(page: str) -> str:
    """The words of the report's charts a reader sees: titles, axis titles, tick labels set by
    the chart, annotations, legend names, category labels, bar texts and the fixed words of
    hover labels (the values Plotly fills in are numbers or the category labels already read)."""
    import json

    found = re.search(r'<script type="application/json" id="figure-data">(.*?)</script>', page,
                      re.S)
    assert found, "the report holds no chart data"
    figures = json.loads(found.group(1))

    def title(t):
        return (t.get("text") or "") if isinstance(t, dict) else (t or "")

    words: list[str] = []
    for fig in figures.values():
        layout = fig.get("layout", {})
        words.append(title(layout.get("title")))
        for key, axis in layout.items():
            if key.startswith(("xaxis", "yaxis")) and isinstance(axis, dict):
                words += [title(axis.get("title")), *map(str, axis.get("ticktext") or [])]
        words += [a.get("text") or "" for a in layout.get("annotations") or []]
        for trace in fig.get("data", []):
            words.append(str(trace.get("name") or ""))
            hover = re.sub(r"%\{[^}]*\}|</?extra>|<br>", " ", trace.get("hovertemplate") or "")
            words.append(hover)
            for axis in ("x", "y"):
                values = trace.get(axis)
                if isinstance(values, list) and all(isinstance(v, str) for v in values):
                    words += values
            if isinstance(trace.get("text"), list):
                words += map(str, trace["text"])
    return "\n".join(words)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """The demo world (small), built and run once in Chinese; its report written in Chinese."""
    from upmarket.warehouse import connect

    out = tmp_path_factory.mktemp("zh") / "demo"
    mp = pytest.MonkeyPatch()
    mp.setenv("COLUMNS", "200")
    # a labels file renames one built-in channel: its name must reach every output
    labels = out.parent / "labels.yaml"
    labels.write_text("channels: {wechat: 微信公众号}\n", encoding="utf-8")
    mp.setenv("UPMARKET_LABELS", str(labels))
    # no control groups: who is held out follows the warehouse's salt, drawn at random, and
    # the dashboard lists only a few offers, so whether one goes out by the renamed channel
    # would otherwise change from run to run
    r = runner.invoke(app, ["demo", "--customers", "80", "--out", str(out), "--lang", "zh",
                            "--holdout-share", "0"])
    assert r.exit_code == 0, r.output
    wh_url, store_url = f"duckdb://{out / 'demo.duckdb'}", f"sqlite:///{out / 'demo-ops.sqlite'}"
    mp.setenv("UPMARKET_WAREHOUSE", wh_url)
    mp.setenv("UPMARKET_DATABASE", store_url)
    wh = connect(wh_url, create=False)
    values: list[str] = []
    for table, cols in {"products": ["name", "sku"], "campaigns": ["name", "campaign_id"],
                        "promotions": ["name", "promotion_id"], "customers": ["country", "income_band"],
                        "consents": ["source"]}.items():
        frame = wh.table(table).select(*cols).to_pandas()
        for col in cols:
            values += [str(v) for v in frame[col].dropna().unique()]
    wh.close()
    # the account managers tasks are assigned to are people of the data, named as the roster has them
    with (out / "account_managers.csv").open(encoding="utf-8") as roster:
        values += [v for row in csv.DictReader(roster) for v in (row["name"], row["email"])]
    # a table may shorten a long name ("New Year goo…"): the words of product and promotion
    # names count as data wherever they appear; campaign codes only whole
    words = frozenset(w for v in values if not re.fullmatch(r"\w+", v)
                      for w in re.findall(r"[A-Za-z]+", v))
    values.sort(key=len, reverse=True)  # a long name before any shorter name inside it
    outputs = {"demo": r.output}
    for cmd in COMMANDS:
        res = runner.invoke(app, [*cmd, "--lang", "zh"])
        assert res.exit_code == 0, (cmd, res.output)
        # a new key is a secret, not words
        outputs[" ".join(cmd)] = re.sub(r"(?m)^um_\S+$", " ", res.output)
    # last, as it adds to the world: a file with a good row and two a validator refuses
    feedback = out.parent / "反馈.csv"
    feedback.write_text("id,customer_id,ts,nps_score\nF1,C000001,2025-12-01,9\n"
                        "F2,C000002,,8\nF3,C000002,2025-12-03,abc\n", encoding="utf-8")
    res = runner.invoke(app, ["ingest", "feedback", str(feedback), "--lang", "zh"])
    assert res.exit_code == 0 and "缺少时间" in res.output and "不是数字" in res.output, res.output
    outputs["ingest"] = res.output
    outputs["quarantine"] = runner.invoke(app, ["quarantine", "--lang", "zh"]).output
    # the rows as the file had them are the data's own
    wh = connect(wh_url, create=False)
    raw = wh.table("quarantine").raw.to_pandas()
    values += raw.str[:80].tolist()
    wh.close()
    # and so are their words, wherever a narrow table wrapped them
    words = words | frozenset(w for row in raw for w in re.findall(r"[A-Za-z]+", row))
    values.sort(key=len, reverse=True)
    assert "缺少时间" in outputs["quarantine"], outputs["quarantine"]
    report = (out / "report-zh.html").read_text(encoding="utf-8")
    outputs["report"] = visible_text(report)
    outputs["report charts"] = chart_text(report)
    outputs.update(dashboard_pages(store_url, wh_url))
    # last, as they change the world: a person's data exported, then erased
    for cmd, code in ((["privacy", "export", "C000003", "--out", str(out.parent / "副本.json")], 0),
                      (["privacy", "erase", "C000003"], 2),  # not confirmed
                      (["privacy", "erase", "C000003", "--yes"], 0),
                      (["privacy", "purge"], 2),  # no age given
                      (["privacy", "purge", "--older-than-days", "1", "--dry-run"], 0)):
        res = runner.invoke(app, [*cmd, "--lang", "zh"])
        assert res.exit_code == code, (cmd, res.output)
        outputs[" ".join(cmd[:3] if code == 0 else [*cmd, "refused"])] = res.output
    yield {"outputs": outputs, "values": values, "words": words, "out": out,
           "customer page": outputs["customer page"]}
    mp.undo()


def dashboard_pages(store_url: str, wh_url: str) -> dict[str, str]:
    """The login page and the dashboard, signed in with a read key, in Chinese."""
    from fastapi.testclient import TestClient

    from upmarket.opstore import store as ops
    from upmarket.service.app import create_app

    application = create_app(store_url, wh_url)
    _, key = ops.create_key(application.state.store, "看板", ["read"])
    pages = {}
    with TestClient(application) as client:
        pages["login page"] = visible_text(client.get("/dashboard/login?lang=zh").text)
        form = client.get("/dashboard/login?lang=zh").text
        token = re.search(r'name="csrf_token" value="([0-9a-f]+)"', form).group(1)
        client.post("/dashboard/login?lang=zh", content=f"csrf_token={token}&key={key}",
                    headers={"Content-Type": "application/x-www-form-urlencoded"})
        page = client.get("/dashboard?lang=zh")
        assert page.status_code == 200, page.text[:300]
        pages["dashboard"] = visible_text(page.text)
        # the working pages: a customer-360 (found by id), the worklist, the segment builder
        for name, path in (("customer page", "/dashboard/search?q=C000001&lang=zh"),
                           ("worklist", "/dashboard/worklist?lang=zh"),
                           ("segment builder", "/dashboard/segments?lang=zh")):
            got = client.get(path)
            assert got.status_code == 200, (path, got.text[:300])
            pages[name] = visible_text(got.text)
    return pages


def test_every_output_is_in_chinese(world):
    outputs = world["outputs"]
    # the scan reads real content: tasks with their titles, quarantine reasons
    assert "待处理" in outputs["tasks list"] and "缺少时间" in outputs["ingest"]
    assert "客户数" in outputs["report charts"]  # the charts' text was read
    found = {name: sorted(english_words(text, world["values"], world["words"]))
             for name, text in world["outputs"].items()}
    assert {k: v for k, v in found.items() if v} == {}


#: an amount in yuan as the page prints it, and a number Plotly would shorten ("16.016k")
YUAN = re.compile(r"¥\d[\d,]*(?:\.\d+)?")
SI = re.compile(r"(?<![\w.])\d+(?:\.\d+)?[kMGT](?![\w])")


def test_money_in_yuan_and_numbers_whole(world):
    """Chinese pages show amounts in yuan (no currency set: ¥ by default) with one format,
    thousands separated by commas, and never SI-shortened numbers, in text or in charts."""
    outputs = {**world["outputs"], "customer page": world["customer page"]}
    for name in ("report", "dashboard", "customer page"):
        assert len(YUAN.findall(outputs[name])) >= 3, f"{name}: no amounts in yuan"
    def without_data(text):  # the data's own labels ("5k-10k", an income band) stay as given
        for value in world["values"]:
            text = text.replace(value, " ")
        return text

    found = {name: SI.findall(without_data(outputs[name]))
             for name in ("report", "report charts", "dashboard", "customer page")}
    assert {k: v for k, v in found.items() if v} == {}
    assert SI.findall("轴 16.016k 与 3M") == ["16.016k", "3M"]  # the pattern itself


INTERNAL = re.compile(r"(?i)seed[ -]?\d{3}|种子|`|p_alive|orders_recent|\bT, ")


def test_a_labels_file_names_the_data_everywhere(world):
    outputs = world["outputs"]
    for name in ("attribution", "funnel", "budget", "report", "dashboard"):
        assert "微信公众号" in outputs[name], name
        assert not re.search("微信(?!公众号)", outputs[name]), name  # the built-in name


def test_no_internal_reference_or_backtick(world):
    found = {name: INTERNAL.findall(text) for name, text in world["outputs"].items()}
    assert {k: v for k, v in found.items() if v} == {}


def test_help_names_no_internal_reference():
    """The words of every command's help and of each of its options, read without rendering
    every page; help is Markdown (`code` is shown as code, without its backticks), so the
    rendered top-level page is checked for backticks too."""
    import typer.main

    def texts(cmd, path):
        yield path, " ".join(filter(None, [cmd.help, *(getattr(p, "help", None) or ""
                                                        for p in cmd.params)]))
        for name, sub in getattr(cmd, "commands", {}).items():
            yield from texts(sub, f"{path} {name}")

    internal = re.compile(INTERNAL.pattern.replace("|`", ""))
    found = {path: internal.findall(text)
             for path, text in texts(typer.main.get_command(app), "upmarket")}
    assert len(found) > 30  # every command was read
    found["rendered"] = INTERNAL.findall(runner.invoke(app, ["--help"]).output)
    assert {k: v for k, v in found.items() if v} == {}


def test_the_scan_catches_english():
    """The scan itself: an English word is found, data values, units and brands are not."""
    assert english_words("客户 Call C000053：流失 churn risk 76%", []) == {"Call", "churn", "risk"}
    assert english_words("智能手表 Smartwatch Plus 03（SW-M003）· RFM 12 小时 · 「upmarket run "
                         "--lang zh」", ["Smartwatch Plus 03"]) == set()
    assert english_words("≤ 1 h", []) == {"h"}  # hours are 小时 in Chinese


def test_pipeline_stages_have_chinese_names():
    from upmarket import pipeline

    for name, _ in pipeline.STAGES:
        assert english_words(label(f"stage.{name}", "zh"), []) == set(), name


@pytest.mark.parametrize("cmd", [["actions", "list"], ["recommend", "C000001"],
                                 ["actions", "impact"], ["tasks", "list"], ["alerts", "list"]],
                         ids=" ".join)
def test_a_real_runs_tables_fit_80_columns_in_chinese(world, cmd):
    """The tables only a full run fills (routes, recommendations), in Chinese, whose
    characters take two columns each."""
    from rich.cells import cell_len

    res = runner.invoke(app, [*cmd, "--lang", "zh"], env={"COLUMNS": "80"})
    assert res.exit_code == 0, res.output
    long = [line for line in res.output.splitlines() if cell_len(line) > 80]
    assert not long, f"{cmd}: {len(long)} lines over 80 columns, e.g. {long[0]!r}"
    assert "…" not in res.output, f"{cmd}: a cell is cut short:\n{res.output}"


@pytest.fixture(scope="module")
def error_outputs(world, tmp_path_factory):
    """What a Chinese reader sees when a command refuses: a warehouse that is not there, busy or
    without a run, an unknown customer, group, task or key, a file that cannot be ingested, a
    bad policy, roster or option. Each is run once and kept by name."""
    import subprocess
    import sys

    from upmarket.warehouse import connect

    d = tmp_path_factory.mktemp("zh-errors")
    empty = d / "空仓库.duckdb"
    connect(f"duckdb://{empty}").close()
    (d / "列不对.csv").write_text("编号,金额\n1,2\n", encoding="utf-8")
    (d / "策略.yaml").write_bytes(b"tiers:\n  shares: \xff\xfe\n")
    (d / "路径.csv").write_text("path,total_conversions\n百度 > 微信,1\n,2\n", encoding="utf-8")
    (d / "两种编码.csv").write_bytes("order_id,customer_id,ts,quantity\nO1,客户甲,2025-01-01,1\n"
                                  .encode() + "O2,客户乙,2025-01-02,1\n".encode("gbk"))
    (d / "未知项.yaml").write_text("tiers:\n  sharez: 1\n", encoding="utf-8")
    (d / "名单.csv").write_text("姓名,邮箱,层级\n李伟,li.wei@example.com,钻石\n,不是邮箱,普通\n",
                               encoding="utf-8")
    commands = {
        "no warehouse": ["segments", "list", "--warehouse", f"duckdb://{d / '没有' / 'x.duckdb'}"],
        "no run": ["segments", "list", "--warehouse", f"duckdb://{empty}"],
        "unknown customer": ["customers", "show", "C999999"],
        "unknown group": ["segments", "export", "不存在的组", "--by", "tier"],
        "unknown task": ["tasks", "done", "999999"],
        "unknown key": ["keys", "revoke", "999999"],
        "missing file": ["ingest", "orders", str(d / "没有这个文件.csv")],
        "missing columns": ["ingest", "orders", str(d / "列不对.csv")],
        "mixed encodings": ["ingest", "orders", str(d / "两种编码.csv")],
        "bad paths file": ["attribution", "--paths", str(d / "路径.csv")],
        "bad policy": ["config", "validate", str(d / "策略.yaml")],
        "unknown policy key": ["config", "validate", str(d / "未知项.yaml")],
        "bad roster": ["ingest", "account_managers", str(d / "名单.csv")],
        "bad option": ["segments", "list", "--by", "颜色"],
        "bad number": ["whatif", "--retention", "很多"],
        "bad consent": ["consents", "set", "C000002", "--channel", "微信 群", "--withdrawn"],
    }
    outputs = {}
    for name, cmd in commands.items():
        # a command without --lang reads the language from the environment, as it does for
        # a user who set UPMARKET_LANG once
        res = runner.invoke(app, cmd, env={"UPMARKET_LANG": "zh"})
        outputs[name] = (res.exit_code, res.output)
    # a warehouse another process holds: the command waits a moment, then says so
    busy = d / "忙.duckdb"
    holder = subprocess.Popen([sys.executable, "-c", "import duckdb, sys, time; "
                               "c = duckdb.connect(sys.argv[1]); print('ready', flush=True); "
                               "time.sleep(60)", str(busy)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "ready"
        res = runner.invoke(app, ["segments", "list", "--warehouse", f"duckdb://{busy}"],
                            env={"UPMARKET_LOCK_WAIT": "0.2", "UPMARKET_LANG": "zh"})
        outputs["busy warehouse"] = (res.exit_code, res.output)
    finally:
        holder.kill()
        holder.wait()
    return outputs


def test_errors_are_in_chinese(world, error_outputs):
    """Every refusal is in Chinese, after the Chinese prefix, with its commands written out
    plainly; only the user's own values (paths, ids, the policy keys a file is written in)
    and the trade's names stay as they are."""
    from upmarket.policy.file import Policy

    keys = [k for section in Policy.model_fields.values()
            for k in getattr(section.annotation, "model_fields", {})]
    from upmarket.warehouse.schema import TABLES

    # what a user types stays as it is in any language: option values (--by tier), data kinds
    # (upmarket ingest orders) and the keys of a policy file
    options = ["rfm", "tier", "lifecycle", "cluster", "churn-band"]
    values = world["values"] + [*keys, *Policy.model_fields, *options, *TABLES, "sharez", "GBK"]
    values.sort(key=len, reverse=True)
    refused = {name: out for name, (code, out) in error_outputs.items() if code != 2}
    assert refused == {}
    unprefixed = {name: out for name, (_, out) in error_outputs.items() if "错误：" not in out}
    assert unprefixed == {}
    found = {name: sorted(english_words(out, values, world["words"]))
             for name, (_, out) in error_outputs.items()}
    assert {k: v for k, v in found.items() if v} == {}
    assert {k: INTERNAL.findall(out) for k, (_, out) in error_outputs.items()
            if INTERNAL.findall(out)} == {}


def test_errors_say_what_to_do(error_outputs):
    """The refusals name what is at fault and the command that fixes it, in plain text."""
    out = {name: text for name, (_, text) in error_outputs.items()}
    assert "请先运行：upmarket run" in out["no run"]
    assert "upmarket ingest orders" in out["no warehouse"]
    assert "C999999" in out["unknown customer"]
    assert "钻石客户" in out["unknown group"]  # the groups by their names, not their codes
    assert "没有这个文件.csv" in out["missing file"]
    assert "列不对.csv" in out["missing columns"] and "编号, 金额" in out["missing columns"]
    assert "订单号" in out["missing columns"]  # a header the file may use, in Chinese
    assert "第 3 行不是 UTF-8（看起来是 GBK）" in out["mixed encodings"]
    assert "第 2 行：路径为空" in out["bad paths file"]
    assert "第 3 行 邮箱 列" in out["bad roster"].replace("\n", "")
    assert "是不是想写“shares”" in out["unknown policy key"]
    assert "UPMARKET_LOCK_WAIT" in out["busy warehouse"] and "0.2 秒" in out["busy warehouse"]
