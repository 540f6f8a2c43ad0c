"""Checks examples/streamlit_app.py against a live segstore server seeded with the Mall
customers and one succeeded run (the Rust test `examples::the_streamlit_example_reads_a_live_server`
starts one and runs this script):

    SEGSTORE_URL=http://127.0.0.1:8080 SEGSTORE_API_KEY=<key> SEGSTORE_RUN=<run id> SEGSTORE_LABELS='[...]' \
        python3 examples/test_streamlit_app.py

It imports the app, runs each data-loading function and checks what they return, then runs
the whole page headless with Streamlit's own test harness (AppTest)."""
import importlib.util
import json
import os
import pathlib
import sys

here = pathlib.Path(__file__).resolve().parent
spec = importlib.util.spec_from_file_location("streamlit_app", here / "streamlit_app.py")
app = importlib.util.module_from_spec(spec)
spec.loader.exec_module(app)

base = os.environ["SEGSTORE_URL"]
run = os.environ["SEGSTORE_RUN"]
labels = json.loads(os.environ["SEGSTORE_LABELS"])


def check(condition, message):
    if not condition:
        print(f"FAILED: {message}", file=sys.stderr)
        sys.exit(1)


segmentations = app.load_segmentations(base)
check(len(segmentations) == 1, f"one segmentation, got {segmentations}")
check(segmentations.loc[0, "active_run_id"] == run, "the run is the active one")
check(segmentations.loc[0, "features"] == "annual_income_k, spending_score", "features")

segmentation = segmentations.loc[0, "id"]
profiles, features, shown = app.load_profiles(base, segmentation)
check(shown == run, f"the profiles name the active run: {shown}")
check(list(profiles.columns) == ["segment_id", "name", "label", "persona", "colour", "size", "share",
                                 "mean annual_income_k", "mean spending_score",
                                 "lift annual_income_k", "lift spending_score"], f"columns {list(profiles.columns)}")
check(features == ["annual_income_k", "spending_score"], f"features {features}")
check(sorted(profiles["label"]) == sorted(labels), f"labels {list(profiles['label'])}")
check(int(profiles["size"].sum()) == 200, "every Mall customer is in a segment")
check(abs(profiles["share"].sum() - 1.0) < 1e-9, "shares sum to 1")
check(all(c.startswith("#") and len(c) == 7 for c in profiles["colour"]), "colours")
vip = profiles[profiles["label"] == "High annual income · High spending score"].iloc[0]
check(vip["size"] == 39 and abs(vip["mean annual_income_k"] - 86.54) < 0.01, f"VIP {vip}")
check(vip["lift spending_score"] > 1.0, "VIPs spend well above the mean")

elbow = app.load_elbow(base, run)
check(list(elbow["k"]) == list(range(1, 11)), f"k 1..10, got {list(elbow['k'])}")
check(elbow["inertia"].is_monotonic_decreasing, "inertia falls with k")
check(int(elbow.loc[elbow["silhouette"].idxmax(), "k"]) == 5, "best silhouette at k = 5")

sample = app.load_sample(base, run, profiles, limit=150)
check(len(sample) == 150, f"150 customers, got {len(sample)}")
check(list(sample.columns) == ["segment_id", "label", "name", *features], f"columns {list(sample.columns)}")
check("Noise" not in set(sample["name"]), "a K-Means run has no noise")
check(sample[features].notna().all().all(), "every sampled customer has its values")
check(set(sample["label"]) <= set(labels), "labels of the run")
everyone = app.load_sample(base, run, profiles, limit=20_000)
check(len(everyone) == 200, "the whole Mall run is its own sample")
sizes = everyone.groupby("label").size()
check(all(sizes[l] == s for l, s in zip(profiles["label"], profiles["size"])), f"sizes {sizes}")
check(everyone.head(150).equals(sample), "a prefix of the sample is the smaller sample")
check(((everyone["annual_income_k"] == 15) & (everyone["spending_score"] == 39)).any(), "0001")

exported = app.load_assignments_csv(base, run).decode().splitlines()
check(exported[0] == "customer_id,segment_id,segment_label,distance", f"CSV header {exported[0]}")
check(len(exported) == 201, f"200 customers in the CSV, got {len(exported) - 1}")

# The page itself, rendered headless against the same server.
from streamlit.testing.v1 import AppTest  # noqa: E402

page = AppTest.from_file(str(here / "streamlit_app.py"), default_timeout=60)
page.run()
check(not page.exception, f"the page raised: {page.exception}")
check(page.title[0].value == "Income and spend: 5 segments", f"title {[t.value for t in page.title]}")
check(len(page.dataframe) == 1, "the profile table")

# What the page shows, read from the rendered elements: the charts' Vega-Lite specs and data,
# the table's values and column formats.
import io  # noqa: E402

import pyarrow as pa  # noqa: E402

charts = page.get("vega_lite_chart")
check(len(charts) == 4, f"sizes, two k curves and the scatter: {len(charts)} charts")


def layers(chart):
    spec = json.loads(chart.proto.spec)
    return spec.get("layer", [spec])


def data(chart):
    frames = [pa.ipc.open_stream(io.BytesIO(d.data.data)).read_all().to_pandas() for d in chart.proto.datasets]
    if chart.proto.HasField("data"):
        frames.append(pa.ipc.open_stream(io.BytesIO(chart.proto.data.data)).read_all().to_pandas())
    return frames


names = [f"#{i} {l}" for i, l in zip(profiles["segment_id"], profiles["label"])]
sizes = layers(charts[0])[0]["encoding"]
# Every bar names its segment in full (no truncated label, no two alike) in its colour.
check(sizes["y"]["axis"]["labelLimit"] == 0, f"full labels: {sizes['y']}")
check(sizes["y"]["sort"] == names and len(set(names)) == len(names), f"distinct full names {sizes['y']['sort']}")
check(sizes["color"]["scale"]["range"] == list(profiles["colour"]), f"segment colours {sizes['color']}")
check(any(f.get("share_text") is not None and "11%" in list(f["share_text"]) for f in data(charts[0]) if "share_text" in f),
      "shares as percentages on the bars")
# The k curves: axis titles and the chosen k marked.
for chart, measure in [(charts[1], "inertia"), (charts[2], "silhouette")]:
    parts = layers(chart)
    line = parts[0]["encoding"]
    check(line["x"]["title"] == "k (number of segments)", f"x title {line['x']}")
    check(line["y"]["title"].startswith(measure), f"y title {line['y']}")
    check(any(p["mark"]["type"] == "rule" for p in parts), f"{measure}: the chosen k is marked")
    markers = [f for f in data(chart) if "text" in f]
    check(markers and int(markers[0]["k"][0]) == 5 and "k = 5" in markers[0]["text"][0], f"marker {markers}")
# The scatter: segment names in their colours, no "Noise" for K-Means.
scatter = layers(charts[3])[0]["encoding"]["color"]
check(scatter["scale"]["domain"] == names, f"scatter legend {scatter['scale']['domain']}")
check(scatter["legend"]["labelLimit"] == 0, "full legend labels")
# The table: share in percent, means with two decimals, lifts signed.
table = page.dataframe[0]
shown = table.value
check(sorted(round(v, 1) for v in shown["share"]) == sorted(round(v * 100, 1) for v in profiles["share"]), f"share {list(shown['share'])}")
columns = json.loads(table.proto.columns)
check(columns["share"]["type_config"]["format"] == "%.1f%%", f"share format {columns['share']}")
check(columns["mean annual_income_k"]["type_config"]["format"] == "%.2f", "means with two decimals")
check(columns["lift spending_score"]["type_config"]["format"] == "%+.2f", "signed lifts")
check(len(page.get("download_button")) == 1, "the CSV download")
check("colour" not in shown.columns and "segment_id" not in shown.columns, f"columns {list(shown.columns)}")
print("streamlit example: all checks passed")
