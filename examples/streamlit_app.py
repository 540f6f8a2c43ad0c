"""A Streamlit dashboard over segstore's API: segment sizes, profiles, a scatter of a
seeded random sample of the run's customers, the elbow curve.

It names a segmentation, never a run: the profiles come from the active run's flat table
(`/v1/segmentations/{id}/active/segments.csv`), whose `Content-Location` names the run they
came from; the page's other figures follow that address, so all of them show one run even
while a retrain is being activated.

    python3 -m venv .venv && .venv/bin/pip install -r examples/requirements.txt
    SEGSTORE_URL=http://127.0.0.1:8080 SEGSTORE_API_KEY=$(cat .segstore/admin.key) \
        .venv/bin/streamlit run examples/streamlit_app.py

The key needs the `read` scope (`segstore keys create --name streamlit --scopes read`); without
SEGSTORE_API_KEY the app reads `.segstore/admin.key`, the key the first start saved.

The data-loading functions take the server's base URL and return pandas frames; they do not
touch Streamlit, so other tools (and `examples/test_streamlit_app.py`) can call them.
"""
from __future__ import annotations

import io
import os

import pandas as pd
import requests

DEFAULT_URL = os.environ.get("SEGSTORE_URL", "http://127.0.0.1:8080")
TIMEOUT = 30


def api_key() -> str:
    """SEGSTORE_API_KEY, else the key the server's first start saved in .segstore/admin.key."""
    key = os.environ.get("SEGSTORE_API_KEY")
    if key:
        return key.strip()
    try:
        with open(os.path.join(".segstore", "admin.key"), encoding="utf-8") as f:
            return f.read().strip()
    except OSError:
        return ""


def raise_problem(response: requests.Response, path: str) -> None:
    """Raises with the `detail` of a problem+json answer (or the body), unless it succeeded."""
    if response.ok:
        return
    try:
        detail = response.json().get("detail", response.text)
    except ValueError:
        detail = response.text
    raise RuntimeError(f"{response.status_code} from {path}: {detail}")


def get_json(base: str, path: str, **params) -> dict:
    """GET a JSON resource; a problem+json answer raises with its `detail`."""
    response = requests.get(
        f"{base.rstrip('/')}{path}",
        params={k: v for k, v in params.items() if v is not None},
        headers={"Accept": "application/json", "Authorization": f"Bearer {api_key()}"},
        timeout=TIMEOUT,
    )
    raise_problem(response, path)
    return response.json()


def load_segmentations(base: str) -> pd.DataFrame:
    """One row per segmentation: id, name, features, algorithm, active run."""
    rows = [
        {
            "id": s["id"],
            "name": s["name"],
            "features": ", ".join(s["config"]["features"]),
            "algorithm": s["config"]["algorithm"]["type"],
            "active_run_id": s["active_run_id"],
        }
        for s in get_json(base, "/v1/segmentations")["segmentations"]
    ]
    return pd.DataFrame(
        rows, columns=["id", "name", "features", "algorithm", "active_run_id"]
    )


def load_run(base: str, run_id: str) -> dict:
    """A run's k, how k was chosen and its algorithm."""
    run = get_json(base, f"/v1/runs/{run_id}")
    return {
        "k": run.get("k"),
        "k_rule": run.get("k_rule"),
        "algorithm": run["params"]["algorithm"]["type"],
    }


def get_csv(base: str, path: str) -> tuple[pd.DataFrame, str | None]:
    """GET a CSV table (ids and labels kept as text) and the `Content-Location` it names."""
    response = requests.get(
        f"{base.rstrip('/')}{path}",
        headers={"Authorization": f"Bearer {api_key()}"},
        timeout=TIMEOUT,
    )
    raise_problem(response, path)
    text = {"label": str, "persona": str, "colour": str, "computed_label": str}
    table = pd.read_csv(io.BytesIO(response.content), dtype=text, keep_default_na=False)
    return table, response.headers.get("Content-Location")


def load_profiles(base: str, segmentation_id: str) -> tuple[pd.DataFrame, list[str], str]:
    """The active run's segment profiles, from its flat table: one row per segment with its
    id, display name (`#id label`, unique even when two labels are alike), label, persona,
    colour, size, share, then `mean <feature>` and `lift <feature>` columns; the features;
    and the run they came from."""
    table, location = get_csv(base, f"/v1/segmentations/{segmentation_id}/active/segments.csv")
    # `/v1/runs/{run}/segments.csv`
    run_id = location.split("/")[3]
    features = [c.removeprefix("centroid_") for c in table.columns if c.startswith("centroid_")]
    profiles = pd.DataFrame(
        {
            "segment_id": table["segment_id"].astype(int),
            "name": [f"#{i} {l}" for i, l in zip(table["segment_id"], table["label"])],
            "label": table["label"],
            "persona": table["persona"].replace("", None),
            "colour": table["colour"],
            "size": table["size"].astype(int),
            "share": table["share"].astype(float),
        }
    )
    for f in features:
        profiles[f"mean {f}"] = table[f"centroid_{f}"].astype(float)
    for f in features:
        profiles[f"lift {f}"] = table[f"lift_{f}"].astype(float)
    return profiles, features, run_id


def load_elbow(base: str, run_id: str) -> pd.DataFrame:
    """The k-selection curve: k, inertia, silhouette (empty when the run was given k)."""
    curve = get_json(base, f"/v1/runs/{run_id}/elbow")["curve"]
    return pd.DataFrame(
        [
            {"k": p["k"], "inertia": p["inertia"], "silhouette": p.get("silhouette")}
            for p in curve
        ],
        columns=["k", "inertia", "silhouette"],
    )


def load_sample(base: str, run_id: str, profiles: pd.DataFrame, limit: int = 5000) -> pd.DataFrame:
    """A seeded random sample of the run's customers (at most 20,000, drawn by the server at
    training time: the same customers its scatter chart draws), one row each: segment id,
    label and display name from the run's `profiles` (`Noise` for DBSCAN's noise), the
    feature values and, for runs over more than two features, `PC1` and `PC2`."""
    sample = get_json(base, f"/v1/runs/{run_id}/sample", limit=limit)
    labels = dict(zip(profiles["segment_id"], profiles["label"]))
    names = dict(zip(profiles["segment_id"], profiles["name"]))
    features = sample["features"]
    rows = []
    for p in sample["points"]:
        row = {
            "segment_id": p["segment_id"],
            "label": labels.get(p["segment_id"], "Noise"),
            "name": names.get(p["segment_id"], "Noise"),
            **dict(zip(features, p["values"])),
        }
        if "pc" in p:
            row["PC1"], row["PC2"] = p["pc"]
        rows.append(row)
    columns = ["segment_id", "label", "name", *features]
    if sample["explained_variance_ratio"] is not None:
        columns += ["PC1", "PC2"]
    return pd.DataFrame(rows, columns=columns)


def sizes_chart(profiles: pd.DataFrame):
    """Customers per segment: a bar each in the segment's colour, its full name beside it and
    its share at the end."""
    import altair as alt

    names, colours = list(profiles["name"]), list(profiles["colour"])
    data = profiles.assign(share_text=[f"{s:.0%}" for s in profiles["share"]])
    y = alt.Y("name:N", sort=names, title=None, axis=alt.Axis(labelLimit=0, labelFontSize=13))
    bars = (
        alt.Chart(data)
        .mark_bar()
        .encode(
            x=alt.X("size:Q", title="customers"),
            y=y,
            color=alt.Color("name:N", scale=alt.Scale(domain=names, range=colours), legend=None),
            tooltip=[alt.Tooltip("name:N", title="segment"), "size:Q",
                     alt.Tooltip("share:Q", format=".1%")],
        )
    )
    shares = bars.mark_text(align="left", dx=4).encode(text="share_text:N", color=alt.value("#333"))
    return (bars + shares).properties(height=36 * len(profiles) + 20)


def k_chart(elbow: pd.DataFrame, measure: str, title: str, chosen: int | None, rule: str | None):
    """One k-selection curve with the chosen k marked."""
    import altair as alt

    line = (
        alt.Chart(elbow.dropna(subset=[measure]))
        .mark_line(point=True)
        .encode(
            x=alt.X("k:Q", title="k (number of segments)", axis=alt.Axis(tickMinStep=1)),
            y=alt.Y(f"{measure}:Q", title=title, scale=alt.Scale(zero=False)),
            tooltip=["k:Q", alt.Tooltip(f"{measure}:Q", format=".3f")],
        )
    )
    if chosen is None:
        return line
    marker = pd.DataFrame({"k": [chosen], "text": [f"chosen: k = {chosen}" + (f" ({rule})" if rule else "")]})
    mark = alt.Chart(marker).mark_rule(color="#882255", strokeDash=[5, 3]).encode(x="k:Q")
    text = alt.Chart(marker).mark_text(align="left", dx=5, dy=-5, color="#882255", baseline="top").encode(
        x="k:Q", y=alt.value(0), text="text:N"
    )
    return line + mark + text


def profile_table(profiles: pd.DataFrame, features: list[str]):
    """The profiles as a marketer reads them: share in %, means with two decimals, lifts signed."""
    import streamlit as st

    table = profiles.drop(columns=["colour", "label", "segment_id"]).assign(share=profiles["share"] * 100)
    config = {
        "name": st.column_config.TextColumn("Segment", width="large"),
        "persona": st.column_config.TextColumn("Persona"),
        "size": st.column_config.NumberColumn("Customers", format="%d"),
        "share": st.column_config.NumberColumn("Share", format="%.1f%%"),
    }
    for f in features:
        config[f"mean {f}"] = st.column_config.NumberColumn(f"{f} (mean)", format="%.2f")
        config[f"lift {f}"] = st.column_config.NumberColumn(
            f"{f} (lift, sd)", format="%+.2f", help="Segment mean minus everyone's, in standard deviations"
        )
    return table, config


def load_assignments_csv(base: str, run_id: str) -> bytes:
    """Every customer of the run with its segment, as the server's CSV export."""
    response = requests.get(
        f"{base.rstrip('/')}/v1/runs/{run_id}/assignments.csv",
        headers={"Authorization": f"Bearer {api_key()}"},
        timeout=TIMEOUT,
    )
    response.raise_for_status()
    return response.content


def main() -> None:  # pragma: no cover - drawn by Streamlit
    import altair as alt
    import streamlit as st

    st.set_page_config(page_title="segstore segments", layout="wide")
    base = st.sidebar.text_input("segstore URL", DEFAULT_URL)
    segmentations = st.cache_data(ttl=30)(load_segmentations)(base)
    ready = segmentations.dropna(subset=["active_run_id"])
    if ready.empty:
        st.info("No segmentation has an active run yet: import customers and run one first.")
        return
    name = st.sidebar.selectbox("Segmentation", ready["name"].tolist())
    chosen = ready[ready["name"] == name].iloc[0]
    # The active run's table names its run: the rest of the page reads that one.
    profiles, features, run_id = st.cache_data(ttl=30)(load_profiles)(base, chosen["id"])
    run = st.cache_data(ttl=30)(load_run)(base, run_id)

    st.title(f"{name}: {len(profiles)} segments")
    st.caption(f"Active run {run_id} · features: {chosen['features']}")
    left, right = st.columns(2)
    with left:
        st.subheader("Segment sizes")
        st.altair_chart(sizes_chart(profiles), width="stretch")
    with right:
        elbow = st.cache_data(ttl=30)(load_elbow)(base, run_id)
        st.subheader("Choosing k")
        if elbow.empty:
            st.write("This run was given k; there is no curve.")
        else:
            k, rule = run["k"], run["k_rule"]
            st.altair_chart(k_chart(elbow, "inertia", "inertia (spread within segments)", k, rule),
                            width="stretch")
            st.altair_chart(k_chart(elbow, "silhouette", "silhouette (separation, higher is better)", k, rule),
                            width="stretch")

    st.subheader("Profiles")
    table, config = profile_table(profiles, features)
    st.dataframe(table, hide_index=True, width="stretch", column_config=config)

    st.subheader("Customers by segment")
    limit = st.slider("Customers to plot", 100, 20_000, 2_000, step=100)
    sample = st.cache_data(ttl=30)(load_sample)(base, run_id, profiles, limit)
    axes = [c for c in sample.columns if c not in ("segment_id", "label", "name")]
    if len(axes) >= 2:
        # Principal components first when the run has them (more than two features).
        axes = axes[-2:] + axes[:-2] if "PC1" in axes else axes
        x = st.selectbox("x", axes, index=0)
        y = st.selectbox("y", axes, index=1)
        # The server's colour for each segment, as in its own charts; grey for DBSCAN's
        # noise, listed only when the sample has some.
        colours = dict(zip(profiles["name"], profiles["colour"]))
        if (sample["name"] == "Noise").any():
            colours["Noise"] = "#bbbbbb"
        chart = (
            alt.Chart(sample)
            .mark_circle(size=30, opacity=0.75)
            .encode(
                x=alt.X(x, scale=alt.Scale(zero=False)),
                y=alt.Y(y, scale=alt.Scale(zero=False)),
                color=alt.Color(
                    "name:N",
                    title="segment",
                    scale=alt.Scale(domain=list(colours), range=list(colours.values())),
                    legend=alt.Legend(labelLimit=0),
                ),
                tooltip=[alt.Tooltip("name:N", title="segment"), x, y],
            )
        )
        st.altair_chart(chart, width="stretch")
    # Fetched with the key when clicked (a plain link would reach the API without it).
    st.download_button(
        "Download every assignment (CSV)",
        data=lambda: load_assignments_csv(base, run_id),
        file_name=f"segments-{run_id}.csv",
        mime="text/csv",
    )


if __name__ == "__main__":
    main()
