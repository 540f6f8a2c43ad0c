"""The README's story through a client generated from openapi/openapi.json.

    python3 tests/client/story.py BASE_URL GENERATED_DIR MALL_CSV API_KEY

GENERATED_DIR holds the package `segstore_client`, made by
`openapi-python-client generate --path openapi/openapi.json --config openapi/python-client.yaml`.
Every answer is read through the generated models: a field the spec declares wrongly (a
`null` where it promises an object, a status it does not list) fails here.
"""

import sys
import time

base, generated, mall, key = sys.argv[1:5]
sys.path.insert(0, generated)

from segstore_client import AuthenticatedClient  # noqa: E402
from segstore_client.api.attributes import list_attributes  # noqa: E402
from segstore_client.api.changes import export_changes, list_changes  # noqa: E402
from segstore_client.api.charts import active_scatter_chart  # noqa: E402
from segstore_client.api.customers import customers_csv, get_customer, import_customers  # noqa: E402
from segstore_client.api.runs import (  # noqa: E402
    active_segments,
    active_segments_csv,
    customer_segment,
    export_assignments,
    get_run,
    list_runs,
    run_assignments,
    run_segments,
    score_customers,
    trigger_run,
)
from segstore_client.api.segmentations import create_segmentation  # noqa: E402
from segstore_client.models import (  # noqa: E402
    ChangeFeed,
    CreateSegmentation,
    ImportResult,
    Problem,
    Run,
    RunAssignmentsFormat,
    RunStatus,
    ScoreKind,
    ScoreRequest,
    Segmentation,
    SegmentationConfig,
)
from segstore_client.types import File  # noqa: E402

client = AuthenticatedClient(base_url=base, token=key, raise_on_unexpected_status=True, timeout=60)


def expect(value, kind):
    assert isinstance(value, kind), f"expected {kind.__name__}, got {value!r}"
    return value


with open(mall, "rb") as f:
    imported = expect(import_customers.sync(client=client, body=File(payload=f)), ImportResult)
assert imported.inserted == 200, imported

catalogue = list_attributes.sync(client=client)
assert {a.name for a in catalogue.attributes} >= {"annual_income_k", "spending_score"}

config = SegmentationConfig.from_dict(
    {"features": ["annual_income_k", "spending_score"], "algorithm": {"type": "kmeans", "k": 5}}
)
segmentation = expect(
    create_segmentation.sync(client=client, body=CreateSegmentation(name="Mall", config=config)),
    Segmentation,
)

# A queued and a running run have no matching and no fit yet: the models must read them.
run = expect(trigger_run.sync(str(segmentation.id), client=client), Run)
assert run.status in (RunStatus.QUEUED, RunStatus.RUNNING), run.status
deadline = time.time() + 120
while run.status in (RunStatus.QUEUED, RunStatus.RUNNING):
    assert time.time() < deadline, "the run did not finish"
    time.sleep(0.2)
    run = expect(get_run.sync(str(run.id), client=client), Run)
assert run.status == RunStatus.SUCCEEDED, run.error
assert run.k == 5 and run.score == ScoreKind.DISTANCE
assert run.matching is not None and run.fit is not None
runs = list_runs.sync(str(segmentation.id), client=client)
assert runs.runs[0].id == run.id

segments = run_segments.sync(str(run.id), client=client)
assert sum(s.size for s in segments.segments) == 200

lookup = customer_segment.sync(str(segmentation.id), "0001", client=client)
assert lookup.current is not None and lookup.current.segment_id >= 1

scored = score_customers.sync(
    str(segmentation.id),
    client=client,
    body=ScoreRequest.from_dict(
        {"customers": [{"id": "new", "attributes": {"annual_income_k": 15, "spending_score": 39}}]}
    ),
)
assert scored.customers[0].segment.segment_id == lookup.current.segment_id

page = run_assignments.sync(str(run.id), client=client, limit=50)
assert len(page.assignments) == 50 and page.next_after is not None
exported = export_assignments.sync_detailed(str(run.id), client=client)
# A file is handed over as one (bytes), not as text the client did not decode.
assert exported.status_code == 200 and isinstance(exported.parsed, File), exported.parsed
assert exported.content.decode().splitlines()[0].startswith("customer_id,segment_id")
assert len(exported.content.decode().splitlines()) == 201
# One operation, one representation: asked for CSV, the JSON operation points to the file
# (303, parsed as no body) instead of answering CSV its generated code would read as JSON.
pointed = run_assignments.sync_detailed(
    str(run.id), client=client, format_=RunAssignmentsFormat.CSV
)
assert pointed.status_code == 303 and pointed.parsed is None
assert pointed.headers["location"] == f"/v1/runs/{run.id}/assignments.csv"

# The change feed, as JSON pages and as CSV pages (the cursor in headers).
feed = expect(list_changes.sync(str(segmentation.id), client=client, limit=150), ChangeFeed)
assert len(feed.changes) == 150 and feed.has_more
rest = export_changes.sync_detailed(
    str(segmentation.id), client=client, after=feed.next_cursor, limit=150
)
assert rest.status_code == 200 and rest.headers["segstore-has-more"] == "false"
lines = rest.content.decode().splitlines()
assert lines[0].startswith("activation,customer_id,change") and len(lines) == 51, lines[:2]

# What a BI pull reads, by the segmentation's stable address (no run id), and the flat tables.
active = active_segments.sync(str(segmentation.id), client=client)
assert active.run_id == run.id and [s.size for s in active.segments] == [s.size for s in segments.segments]
table = active_segments_csv.sync_detailed(str(segmentation.id), client=client)
assert table.headers["content-location"] == f"/v1/runs/{run.id}/segments.csv"
rows = table.content.decode().splitlines()
assert rows[0].startswith("segment_id,label,persona,size,share,colour") and len(rows) == 6, rows[0]
everyone = customers_csv.sync_detailed(client=client).content.decode().splitlines()
assert len(everyone) == 201 and everyone[0].startswith("customer_id,"), everyone[0]
chart = active_scatter_chart.sync_detailed(str(segmentation.id), client=client, points=50)
assert chart.status_code == 200 and b"<svg" in chart.content[:200]

# An error comes back as the typed problem.
missing = expect(get_customer.sync("no-such-customer", client=client), Problem)
assert missing.status == 404 and "no-such-customer" in missing.detail
refused = expect(
    create_segmentation.sync(
        client=client,
        body=CreateSegmentation(
            name="Bad", config=SegmentationConfig.from_dict({"features": ["nope"]})
        ),
    ),
    Problem,
)
assert refused.status == 422 and refused.errors[0].field == "config.features[0]", refused
print("the generated client told the story")
