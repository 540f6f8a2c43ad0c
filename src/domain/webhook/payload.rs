//! What a delivery's body holds: the Standard Webhooks envelope (`type`, `timestamp`,
//! `data`) around each event's data. These types are the payloads' documentation (the
//! OpenAPI document's `webhooks`) and what segstore writes.

use crate::domain::activation::{Cause, Change};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

/// A run that succeeded or failed (`run.succeeded`, `run.failed`).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RunEvent {
    pub run_id: Uuid,
    pub segmentation_id: Uuid,
    /// `succeeded` or `failed`.
    pub status: String,
    /// `api` or `schedule`.
    pub trigger: String,
    /// Segments found (`null` for a failed run).
    pub k: Option<i32>,
    /// Customers segmented (`null` for a failed run).
    pub customers_used: Option<i64>,
    /// Why it failed (`kind`, `message`, and `customer` when a value of one made it fail);
    /// `null` when it succeeded.
    #[schema(value_type = Option<crate::domain::run::documents::RunFailure>)]
    pub error: Option<serde_json::Value>,
    pub created_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
}

/// A run that became its segmentation's active run (`segmentation.activated`).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ActivationEvent {
    pub segmentation_id: Uuid,
    /// Numbered from 1 per segmentation (as in `GET /v1/segmentations/{id}/changes`).
    pub activation: i64,
    pub run_id: Uuid,
    pub previous_run_id: Option<Uuid>,
    pub cause: Cause,
    pub activated_at: DateTime<Utc>,
    pub entered: i64,
    pub moved: i64,
    pub left: i64,
}

/// A segment on one side of a change.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SegmentSide {
    pub segment_id: i32,
    pub label: Option<String>,
}

/// One customer's change.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangedCustomer {
    pub customer_id: String,
    pub change: Change,
    pub from: Option<SegmentSide>,
    pub to: Option<SegmentSide>,
}

/// A batch of one activation's membership changes (`segment.membership_changed`): changes
/// `first`..`last` (numbered from 1 in customer id order) of its `total`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MembershipChanges {
    pub activation: ActivationEvent,
    pub first: i32,
    pub last: i32,
    /// Changes at this activation in all (`entered + moved + left`).
    pub total: i64,
    pub changes: Vec<ChangedCustomer>,
}

/// A run drifted past its segmentation's thresholds (`segmentation.drift_detected`); its
/// full report is `drift` in `GET /v1/runs/{run_id}`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DriftEvent {
    pub segmentation_id: Uuid,
    pub run_id: Uuid,
    /// The active run it was compared with.
    pub against_run_id: Uuid,
    /// The thresholds it crossed.
    pub crossed: Vec<crate::domain::drift::Crossed>,
    /// Whether its activation is held until someone activates it.
    pub held: bool,
    pub moved_share: Option<f64>,
    pub adjusted_rand_index: Option<f64>,
}

/// `POST /v1/webhooks/{id}/ping`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PingEvent {
    pub webhook_id: Uuid,
    pub message: String,
}

/// The body of every delivery (Standard Webhooks): the event's type, when it happened, and
/// its data.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Envelope<T> {
    /// The event type, e.g. `segment.membership_changed`.
    #[serde(rename = "type")]
    pub kind: super::EventType,
    /// When the event happened (not when this attempt was sent: that is `webhook-timestamp`).
    pub timestamp: DateTime<Utc>,
    pub data: T,
}
