//! RFM features derived from order lines (`store::rfm` computes them in one set-based
//! statement), stored as attributes of the customers so that segmentations use them like any
//! attribute.

use crate::domain::{AttributeKind, AttributeName};
use crate::error::Result;
use crate::store::rfm::{self, NamedSegment};
use crate::store::{Pool, attributes};
use chrono::{DateTime, Utc};

/// The derived attributes, in the order they are computed.
pub const FEATURES: [&str; 9] = [
    "rfm_recency_days",
    "rfm_frequency",
    "rfm_monetary",
    "rfm_avg_order_value",
    "rfm_tenure_days",
    "rfm_distinct_products",
    // Quintile scores 1..5 (recent, frequent, high spend = 5).
    "rfm_r_score",
    "rfm_f_score",
    "rfm_m_score",
];

/// Categorical attributes: the RFM cell (`"545"`) and the named segment.
pub const LABELS: [&str; 2] = ["rfm_cell", "rfm_segment"];

/// What a refresh did.
#[derive(Debug, Clone)]
pub struct RfmRefresh {
    /// `None` when no order line counts.
    pub reference: Option<DateTime<Utc>>,
    pub customers_with_rfm: i64,
    pub customers_without_rfm: i64,
    pub ms: f64,
}

/// Whether a segmentation's features need a refresh first.
pub fn uses_rfm(features: &[String]) -> bool {
    features.iter().any(|f| FEATURES.contains(&f.as_str()))
}

/// Recomputes every customer's RFM attributes as of `reference` (default: one day after the
/// latest counted order line). Customers without a counted line have none.
#[tracing::instrument(skip(pool))]
pub async fn refresh(pool: &Pool, reference: Option<DateTime<Utc>>) -> Result<RfmRefresh> {
    let started = std::time::Instant::now();
    let mut tx = crate::store::begin(pool).await?;
    let wanted: Vec<(AttributeName, AttributeKind)> = FEATURES
        .iter()
        .map(|f| (f, AttributeKind::Numeric))
        .chain(LABELS.iter().map(|f| (f, AttributeKind::Categorical)))
        .map(|(f, k)| (AttributeName::parse(f).expect("valid name"), k))
        .collect();
    // A fixed handful of attributes: the limit is for what clients send.
    let catalogue = attributes::register(&mut tx, &wanted, usize::MAX)
        .await?
        .map_err(crate::service::customers::catalogue_full)?;
    let refreshed = rfm::refresh(&mut tx, &catalogue, &FEATURES, &LABELS, reference).await?;
    crate::store::commit(tx).await?;
    // The first refresh adds the RFM attributes (later ones find the view as it is).
    crate::service::report::sync(pool).await;
    Ok(RfmRefresh {
        reference: refreshed.reference,
        customers_with_rfm: refreshed.with_rfm,
        customers_without_rfm: refreshed.without_rfm,
        ms: started.elapsed().as_secs_f64() * 1e3,
    })
}

/// The named segments as the last refresh left them, largest first.
pub async fn segments(pool: &Pool) -> Result<Vec<NamedSegment>> {
    let catalogue = attributes::load(pool).await?;
    let pos = |name: &str| catalogue.get(name).map(|a| a.position);
    let (Some(segment), Some(recency), Some(frequency), Some(monetary)) = (
        pos("rfm_segment"),
        pos("rfm_recency_days"),
        pos("rfm_frequency"),
        pos("rfm_monetary"),
    ) else {
        return Ok(Vec::new());
    };
    Ok(rfm::named_segments(
        pool,
        rfm::SegmentPositions {
            segment,
            recency,
            frequency,
            monetary,
            clv: pos("clv_p_alive").is_some() && pos("clv_value").is_some(),
        },
    )
    .await?)
}
