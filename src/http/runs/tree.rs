//! A bisecting run's split tree: how its segments came from splitting everyone in two, then
//! the group with the largest inertia in two again, k − 1 times.

use super::results::SegmentRef;
use crate::domain::RunId;
use crate::error::Result;
use crate::http::problem::RunResultErrors;
use crate::service::runs as service;
use crate::store::Pool;
use actix_web::{get, web};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

/// A group of customers in the split tree.
#[derive(Debug, Serialize, ToSchema)]
pub struct TreeNode {
    /// 0 is every customer segmented; each split adds its two halves.
    pub id: usize,
    pub parent: Option<usize>,
    /// Its two halves, once split (empty for a segment).
    pub children: Vec<usize>,
    /// Which split divided it: 1 for the first; `null` for a segment. With the first
    /// m − 1 splits there are m groups: drill down from 2 to k.
    pub split: Option<usize>,
    pub size: usize,
    /// size / customers segmented.
    pub share: f64,
    /// Mean of its customers per feature (original units).
    pub centroid: Vec<f64>,
    /// Sum of squared distances of its customers to their mean, in the space the run
    /// clustered in: the split that divides it removes the most of it.
    pub inertia: f64,
    /// The segments (stable ids) its customers are in, ascending.
    pub segments: Vec<i32>,
    /// For a segment (a leaf): which one.
    pub segment: Option<SegmentRef>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SplitTree {
    pub run_id: Uuid,
    /// Feature order of `centroid`.
    pub features: Vec<String>,
    /// In the order they were made: the root, then each split's two halves.
    pub nodes: Vec<TreeNode>,
}

/// A bisecting run's split tree.
///
/// Every group the run made on its way to k segments: its size, mean per feature, inertia and
/// the segments in it. 409 for a run of another algorithm.
#[utoipa::path(
    security(("api_key" = ["read"])),
    tag = "runs",
    params(("id" = String, Path, description = "The run's id")),
    responses(
        (status = 200, description = "The split tree", body = SplitTree),
        RunResultErrors,
    )
)]
#[get("/runs/{id}/tree")]
#[tracing::instrument(skip_all, fields(run_id = %id))]
pub(super) async fn run_tree(pool: web::Data<Pool>, id: RunId) -> Result<web::Json<SplitTree>> {
    let (run, segments, tree) = service::tree(&pool, id).await?;
    let by_position = |position: usize| {
        segments
            .iter()
            .find(|s| s.segment as usize == position)
            .expect("a leaf of the tree is a stored segment")
    };
    let total: i64 = segments.iter().map(|s| s.size).sum();
    let features = run
        .summary
        .as_ref()
        .map(|s| s.features.clone())
        .unwrap_or_else(|| run.config.features.clone());
    let nodes = tree
        .nodes
        .iter()
        .enumerate()
        .map(|(id, node)| {
            let under: Vec<_> = tree
                .clusters_under(id)
                .into_iter()
                .map(by_position)
                .collect();
            // A group's mean is its segments' means weighted by their sizes.
            let size: i64 = under.iter().map(|s| s.size).sum();
            let centroid = (0..features.len())
                .map(|f| {
                    under
                        .iter()
                        .map(|s| s.profile.centroid[f] * s.size as f64)
                        .sum::<f64>()
                        / size as f64
                })
                .collect();
            let mut ids: Vec<i32> = under.iter().map(|s| s.stable_id).collect();
            ids.sort_unstable();
            TreeNode {
                id,
                parent: node.parent,
                children: node.children.map(Vec::from).unwrap_or_default(),
                split: node.split,
                size: node.size,
                share: size as f64 / total as f64,
                centroid,
                inertia: node.inertia,
                segments: ids,
                segment: node.cluster.map(|c| SegmentRef::from(by_position(c))),
            }
        })
        .collect();
    Ok(web::Json(SplitTree {
        run_id: run.run_id,
        features,
        nodes,
    }))
}
