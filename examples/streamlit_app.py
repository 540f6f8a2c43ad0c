"""A Streamlit dashboard over segstore's JSON API: segment sizes, profiles, a scatter of a
seeded random sample of the run's customers, the elbow curve.

    python3 -m pip install -r examples/requirements.txt
    SEGSTORE_URL=http://127.0.0.1:8080 SEGSTORE_API_KEY=$(cat .segstore/admin.key) \
        streamlit run examples/streamlit_app.py

The key needs the `read` scope (`segstore keys create --name streamlit --scopes read`); without
SEGSTORE_API_KEY the app reads `.segstore/admin.key`, the key the first start saved.

The data-loading functions take the server's base URL and return pandas frames; they do not
touch Streamlit, so other tools (and `examples/test_streamlit_app.py`) can call them.
"""
from __future__ import annotations

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


def get_json(base: str, path: str, **params) -> dict:
    """GET a JSON resource; a problem+json answer raises with its `detail`."""
    response = requests.get(
        f"{base.rstrip('/')}{path}",
        params={k: v for k, v in params.items() if v is not None},
        headers={"Accept": "application/json", "Authorization": f"Bearer {api_key()}"},
        timeout=TIMEOUT,
    )
    if not response.ok:
        try:
            detail = response.json().get("detail", response.text)
        except ValueError:
            detail = response.text
        raise RuntimeError(f"{response.status_code} from {path}: {detail}")
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


def load_profiles(base: str, run_id: str) -> tuple[pd.DataFrame, list[str]]:
    """Segment profiles of a run: one row per segment with its id, label, persona, colour,
    size, share, then `mean <feature>` and `lift <feature>` columns; and the features."""
    answer = get_json(base, f"/v1/runs/{run_id}/segments")
    features = answer["features"]
    rows = []
    for s in answer["segments"]:
        row = {
            "segment_id": s["segment_id"],
            "label": s["label"],
            "persona": s.get("persona"),
            "colour": s["colour"],
            "size": s["size"],
            "share": s["share"],
        }
        row.update({f"mean {f}": v for f, v in zip(features, s["centroid"])})
        row.update({f"lift {f}": v for f, v in zip(features, s["lift"])})
        rows.append(row)
    return pd.DataFrame(rows), features


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


def load_sample(base: str, run_id: str, limit: int = 5000) -> pd.DataFrame:
    """A seeded random sample of the run's customers (at most 20,000, drawn by the server at
    training time: the same customers its scatter chart draws), one row each: segment id,
    label, the feature values and, for runs over more than two features, `PC1` and `PC2`."""
    sample = get_json(base, f"/v1/runs/{run_id}/sample", limit=limit)
    profiles = get_json(base, f"/v1/runs/{run_id}/segments")
    labels = {s["segment_id"]: s["label"] for s in profiles["segments"]}
    features = sample["features"]
    rows = []
    for p in sample["points"]:
        row = {
            "segment_id": p["segment_id"],
            "label": labels.get(p["segment_id"], "Noise"),
            **dict(zip(features, p["values"])),
        }
        if "pc" in p:
            row["PC1"], row["PC2"] = p["pc"]
        rows.append(row)
    columns = ["segment_id", "label", *features]
    if sample["explained_variance_ratio"] is not None:
        columns += ["PC1", "PC2"]
    return pd.DataFrame(rows, columns=columns)


def main() -> None:  # pragma: no cover - drawn by Streamlit
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
    run_id = chosen["active_run_id"]
    profiles, features = st.cache_data(ttl=30)(load_profiles)(base, run_id)

    st.title(f"{name}: {len(profiles)} segments")
    st.caption(f"Active run {run_id} · features: {chosen['features']}")
    left, right = st.columns(2)
    with left:
        st.subheader("Segment sizes")
        st.bar_chart(profiles.set_index("label")["size"], horizontal=True)
    with right:
        elbow = st.cache_data(ttl=30)(load_elbow)(base, run_id)
        st.subheader("Choosing k")
        if elbow.empty:
            st.write("This run was given k; there is no curve.")
        else:
            st.line_chart(elbow.set_index("k")[["inertia"]])
            st.line_chart(elbow.set_index("k")[["silhouette"]])

    st.subheader("Profiles")
    st.dataframe(profiles.drop(columns=["colour"]), hide_index=True, use_container_width=True)

    st.subheader("Customers by segment")
    limit = st.slider("Customers to plot", 100, 20_000, 2_000, step=100)
    sample = st.cache_data(ttl=30)(load_sample)(base, run_id, limit)
    axes = [c for c in sample.columns if c not in ("segment_id", "label")]
    if len(axes) >= 2:
        import altair as alt

        # Principal components first when the run has them (more than two features).
        axes = axes[-2:] + axes[:-2] if "PC1" in axes else axes
        x = st.selectbox("x", axes, index=0)
        y = st.selectbox("y", axes, index=1)
        # The server's colour for each segment, as in its own charts.
        colours = dict(zip(profiles["label"], profiles["colour"]))
        colours["Noise"] = "#bbbbbb"
        chart = (
            alt.Chart(sample)
            .mark_circle(size=30, opacity=0.75)
            .encode(
                x=alt.X(x, scale=alt.Scale(zero=False)),
                y=alt.Y(y, scale=alt.Scale(zero=False)),
                color=alt.Color(
                    "label",
                    scale=alt.Scale(domain=list(colours), range=list(colours.values())),
                ),
                tooltip=["label", x, y],
            )
        )
        st.altair_chart(chart, use_container_width=True)
    csv = f"{base.rstrip('/')}/v1/runs/{run_id}/assignments?format=csv"
    st.markdown(f"[Download every assignment (CSV)]({csv})")


if __name__ == "__main__":
    main()
