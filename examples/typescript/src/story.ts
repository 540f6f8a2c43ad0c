// The README's story from TypeScript: types generated from openapi/openapi.json by
// openapi-typescript, calls made through openapi-fetch. Every answer is typed: a customer's
// attributes are numbers or strings, a run's status one of five, a lookup's segment nullable.
//
//   npm ci && npm run build
//   SEGSTORE_URL=http://127.0.0.1:8080 SEGSTORE_KEY=sk_... node dist/story.js ../../data/mall_customers.csv
import { readFile } from "node:fs/promises";
import createClient from "openapi-fetch";
import type { components, paths } from "./segstore.js";

type Run = components["schemas"]["Run"];

const baseUrl = process.env.SEGSTORE_URL ?? "http://127.0.0.1:8080";
const key = process.env.SEGSTORE_KEY;
const csvPath = process.argv[2];
if (!key || !csvPath) {
  console.error("usage: SEGSTORE_URL=… SEGSTORE_KEY=… node dist/story.js CUSTOMERS.csv");
  process.exit(2);
}

const segstore = createClient<paths>({
  baseUrl,
  headers: { Authorization: `Bearer ${key}` },
});

/** The answer's body, or the problem+json the server sent, thrown with its status. */
function ok<T>(answer: { data?: T; error?: unknown; response: Response }): T {
  if (answer.data === undefined) {
    throw new Error(
      `${answer.response.status} from ${answer.response.url}: ${JSON.stringify(answer.error)}`,
    );
  }
  return answer.data;
}

// 1. Import the customers: the CSV goes as it is (text/csv), not as JSON.
const imported = ok(
  await segstore.POST("/v1/customers/import", {
    body: await readFile(csvPath, "utf8"),
    bodySerializer: (csv) => csv,
    headers: { "Content-Type": "text/csv" },
  }),
);
console.log(`imported: ${imported.inserted} new, ${imported.updated} updated`);

// A customer's attributes are a typed map: no cast to read them.
const first = ok(
  await segstore.GET("/v1/customers/{id}", { params: { path: { id: "0001" } } }),
);
const income = first.attributes["annual_income_k"];
console.log(`customer ${first.id}: annual income ${income ?? "unknown"} k$`);

// 2. A segmentation over two features, and a run of it.
const segmentation = ok(
  await segstore.POST("/v1/segmentations", {
    body: {
      name: "Mall (TypeScript)",
      config: {
        features: ["annual_income_k", "spending_score"],
        algorithm: { type: "kmeans", k: 5 },
      },
    },
  }),
);
let run: Run = ok(
  await segstore.POST("/v1/segmentations/{id}/runs", {
    params: { path: { id: segmentation.id } },
  }),
);
const deadline = Date.now() + 120_000;
while (run.status === "queued" || run.status === "running") {
  if (Date.now() > deadline) throw new Error(`run ${run.id} did not finish`);
  await new Promise((resolve) => setTimeout(resolve, 200));
  run = ok(await segstore.GET("/v1/runs/{id}", { params: { path: { id: run.id } } }));
}
if (run.status !== "succeeded") throw new Error(`run ${run.id}: ${JSON.stringify(run.error)}`);
console.log(`run ${run.id}: k = ${run.k}`);

// 3. The active run's segments, by the segmentation's stable address (no run id).
const active = ok(
  await segstore.GET("/v1/segmentations/{id}/active/segments", {
    params: { path: { id: segmentation.id } },
  }),
);
for (const s of active.segments) {
  console.log(`segment ${s.segment_id} ${s.label}: ${s.size} customers (${(s.share * 100).toFixed(1)}%)`);
}

// 4. One customer's segment, and a new customer scored against the active model.
const lookup = ok(
  await segstore.GET("/v1/segmentations/{id}/customers/{customer_id}", {
    params: { path: { id: segmentation.id, customer_id: "0001" } },
  }),
);
const scored = ok(
  await segstore.POST("/v1/segmentations/{id}/score", {
    params: { path: { id: segmentation.id } },
    body: { customers: [{ id: "new", attributes: { annual_income_k: 15, spending_score: 39 } }] },
  }),
);
const same = scored.customers[0]?.segment?.segment_id;
console.log(
  `customer 0001 is in segment ${lookup.current?.segment_id ?? "none"}; ` +
    `a new customer like them would be in ${same ?? "none"}`,
);

// 5. The flat table for a spreadsheet or BI tool: CSV, read as text.
const table = ok(await segstore.GET("/v1/customers.csv", { parseAs: "text" }));
const lines = table.trimEnd().split("\n");
console.log(`customers.csv: ${lines.length - 1} rows; columns ${lines[0]}`);

// An error is the typed problem+json.
const missing = await segstore.GET("/v1/customers/{id}", {
  params: { path: { id: "no-such-customer" } },
});
console.log(`unknown customer: ${missing.response.status} ${missing.error?.title ?? ""}`);
