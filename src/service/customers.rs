//! Customer writes (JSON batches), reads, deletes and the attribute catalogue.

use crate::domain::run::documents::{ERASED_CUSTOMER, RunFailure};
use crate::domain::{AttributeKind, AttributeName, AttributeValue, ExternalId};
use crate::error::{Error, FieldError, Result};
use crate::ingest::csv::quoted_list;
use crate::service::IngestLimits;
use crate::service::audit::AuditLog;
use crate::service::lookup::LookupCache;
use crate::store::Pool;
use crate::store::attributes::{CatalogueFull, NotDeleted};
use crate::store::staging::{self, StagingEncoder, Update};
use crate::store::{self, Catalogue, attributes, customers::CustomerRow};
use chrono::{DateTime, Utc};

/// One customer of a JSON batch: the attributes it names are written, the others kept.
#[derive(Debug, Clone)]
pub struct CustomerUpsert {
    pub id: ExternalId,
    pub attributes: Vec<(AttributeName, AttributeValue)>,
}

/// What a write did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WriteOutcome {
    pub received: u64,
    pub inserted: u64,
    pub updated: u64,
    pub unchanged: u64,
    /// Attributes this write added to the catalogue.
    pub new_attributes: Vec<(String, AttributeKind)>,
}

/// Upserts a batch atomically: all customers are written, or (on any error) none.
#[tracing::instrument(skip_all, fields(customers = batch.len()))]
pub async fn upsert(
    pool: &Pool,
    limits: IngestLimits,
    batch: Vec<CustomerUpsert>,
) -> Result<WriteOutcome> {
    let pool = pool.clone();
    crate::service::detach::detached(async move { upsert_batch(&pool, limits, batch).await }).await
}

async fn upsert_batch(
    pool: &Pool,
    limits: IngestLimits,
    batch: Vec<CustomerUpsert>,
) -> Result<WriteOutcome> {
    let mut tx = crate::store::begin(pool).await?;
    let known = attributes::load(&mut *tx).await?;
    let wanted = attribute_kinds(&known, &batch)?;
    let catalogue = attributes::register(&mut tx, &wanted, limits.max_attributes)
        .await?
        .map_err(catalogue_full)?;
    let new_attributes = new_attributes(&known, &catalogue);

    let mut encoder = StagingEncoder::new(
        catalogue.width(AttributeKind::Numeric),
        catalogue.width(AttributeKind::Categorical),
    );
    let mut copy = staging::begin_copy(&mut tx).await?;
    let mut numeric = Vec::new();
    let mut categorical = Vec::new();
    for (index, customer) in batch.iter().enumerate() {
        numeric.clear();
        numeric.resize(catalogue.width(AttributeKind::Numeric), Update::Keep);
        categorical.clear();
        categorical.resize(catalogue.width(AttributeKind::Categorical), Update::Keep);
        for (name, value) in &customer.attributes {
            // An attribute only ever cleared (never given a value) names nothing to clear.
            let Some(attribute) = catalogue.get(name.as_str()) else {
                continue;
            };
            let slot = attribute.position - 1;
            match value {
                AttributeValue::Numeric(v) => numeric[slot] = Update::Set(v.get()),
                AttributeValue::Categorical(v) => categorical[slot] = Update::Set(v.as_str()),
                AttributeValue::Missing => match attribute.kind {
                    AttributeKind::Numeric => numeric[slot] = Update::Clear,
                    AttributeKind::Categorical => categorical[slot] = Update::Clear,
                },
            }
        }
        encoder.push(index as u64, &customer.id, &numeric, &categorical);
        copy.send_ready(&mut encoder).await?;
    }
    copy.finish_with(&mut encoder).await?;
    let merged = staging::merge(&mut tx, &encoder)
        .await
        .map_err(|e| rename_duplicate_lines(e.into()))?;
    crate::store::commit(tx).await?;
    metrics::counter!("segstore_rows_imported_total", "kind" => "customers")
        .increment(merged.received);
    if !new_attributes.is_empty() {
        crate::service::report::sync(pool).await;
    }
    Ok(WriteOutcome {
        received: merged.received,
        inserted: merged.inserted,
        updated: merged.updated,
        unchanged: merged.unchanged,
        new_attributes,
    })
}

/// In a JSON batch the staged "line" is the index in `customers`: report it as a path.
fn rename_duplicate_lines(e: Error) -> Error {
    match e {
        Error::Validation { detail, errors } => Error::Validation {
            detail,
            errors: errors
                .into_iter()
                .map(|mut fe| {
                    if let Some(index) = fe.line.take() {
                        fe.field = Some(format!("customers[{index}].id"));
                        fe.message = fe.message.replace("(at ", "(at indexes ");
                    }
                    fe
                })
                .collect(),
        },
        other => other,
    }
}

/// Why an import may not write attribute `name`, when it is one of the predicted figures
/// (kept apart from the attributes clients write, and rewritten by every refresh).
pub fn not_writable(name: &str) -> Option<String> {
    crate::store::clv::ATTRIBUTES.contains(&name).then(|| {
        format!(
            "`{name}` is predicted by POST /v1/clv/refresh and cannot be written by an import; \
             rename the column"
        )
    })
}

/// The kind of every attribute the batch names; refuses values whose kind contradicts the
/// catalogue or the rest of the batch, naming each offending field.
fn attribute_kinds(
    catalogue: &Catalogue,
    batch: &[CustomerUpsert],
) -> Result<Vec<(AttributeName, AttributeKind)>> {
    let mut kinds: Vec<(AttributeName, AttributeKind)> = Vec::new();
    let mut errors = Vec::new();
    let mut predicted = Vec::new();
    for (index, customer) in batch.iter().enumerate() {
        for (name, value) in &customer.attributes {
            if let Some(why) = not_writable(name.as_str()) {
                predicted.push(FieldError::field(
                    format!("customers[{index}].attributes.{name}"),
                    why,
                ));
                continue;
            }
            let Some(kind) = value.kind() else { continue };
            let expected = catalogue
                .get(name.as_str())
                .map(|a| a.kind)
                .or_else(|| kinds.iter().find(|(n, _)| n == name).map(|(_, k)| *k));
            match expected {
                None => kinds.push((name.clone(), kind)),
                Some(expected) if expected != kind => errors.push(FieldError::field(
                    format!("customers[{index}].attributes.{name}"),
                    format!(
                        "`{name}` is a {} attribute; this value is {}",
                        expected.as_str(),
                        kind.as_str()
                    ),
                )),
                Some(_) => {}
            }
        }
    }
    if let Some(first) = predicted.first() {
        return Err(Error::invalid_many(
            format!(
                "{}; first at {}",
                first.message,
                first.field.as_deref().unwrap_or("?")
            ),
            predicted,
        ));
    }
    if errors.is_empty() {
        Ok(kinds)
    } else {
        Err(Error::invalid_many(
            format!(
                "{} attribute values do not match their attribute's kind; first at {}",
                errors.len(),
                errors[0].field.as_deref().unwrap_or("?")
            ),
            errors,
        ))
    }
}

/// The 422 of a write that would take the catalogue past its limit.
pub(crate) fn catalogue_full(full: CatalogueFull) -> Error {
    let names: Vec<String> = full.adding.iter().map(|n| n.to_string()).collect();
    Error::invalid(
        "attributes",
        format!(
            "this write would add {} attribute{} ({}) to the {} stored; the catalogue holds at \
             most {} (setting `max-attributes`). Nothing was written; delete attributes no \
             longer needed with DELETE /v1/attributes/{{name}}",
            full.adding.len(),
            if full.adding.len() == 1 { "" } else { "s" },
            quoted_list(&names),
            full.held,
            full.limit
        ),
    )
}

/// Deletes an attribute and its values; refused while a segmentation uses it.
pub async fn delete_attribute(pool: &Pool, name: &str) -> Result<()> {
    let name = AttributeName::parse(name).map_err(|e| Error::invalid("name", e.0))?;
    let mut tx = crate::store::begin(pool).await?;
    match attributes::delete(&mut tx, &name).await? {
        Ok(()) => {
            crate::store::commit(tx).await?;
            crate::service::report::sync(pool).await;
            Ok(())
        }
        Err(NotDeleted::Unknown) => Err(Error::NotFound(format!(
            "no attribute named `{}`",
            name.as_str()
        ))),
        Err(NotDeleted::InUse(users)) => Err(Error::Conflict(format!(
            "attribute `{}` is a feature of segmentation{} {}: change {} first",
            name.as_str(),
            if users.len() == 1 { "" } else { "s" },
            quoted_list(&users),
            if users.len() == 1 { "it" } else { "them" }
        ))),
    }
}

pub(crate) fn new_attributes(
    before: &Catalogue,
    after: &Catalogue,
) -> Vec<(String, AttributeKind)> {
    after
        .iter()
        .filter(|a| before.get(a.name.as_str()).is_none())
        .map(|a| (a.name.to_string(), a.kind))
        .collect()
}

/// A stored customer with its attributes by name, in catalogue order.
#[derive(Debug, Clone)]
pub struct Customer {
    pub id: String,
    pub attributes: Vec<(String, StoredValue)>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum StoredValue {
    Numeric(f64),
    Categorical(String),
}

fn to_customer(row: CustomerRow, catalogue: &Catalogue) -> Customer {
    let attributes = catalogue
        .iter()
        .filter_map(|a| {
            let value = match a.kind {
                AttributeKind::Numeric => row.numeric(a).map(StoredValue::Numeric),
                AttributeKind::Categorical => row
                    .categorical(a)
                    .map(|v| StoredValue::Categorical(v.to_owned())),
            };
            value.map(|v| (a.name.to_string(), v))
        })
        .collect();
    Customer {
        id: row.external_id,
        attributes,
        created_at: row.created_at,
        updated_at: row.updated_at,
    }
}

pub async fn get(pool: &Pool, id: &str) -> Result<Customer> {
    let mut tx = crate::store::begin(pool).await?;
    let row = store::customers::find(&mut *tx, id)
        .await?
        .ok_or_else(|| Error::NotFound(format!("no customer with id `{id}`")))?;
    let catalogue = attributes::load(&mut *tx).await?;
    Ok(to_customer(row, &catalogue))
}

/// A page of customers in id order, and the cursor for the next page when there is one.
pub async fn page(
    pool: &Pool,
    after: Option<&str>,
    limit: u32,
) -> Result<(Vec<Customer>, Option<String>)> {
    let mut tx = crate::store::begin(pool).await?;
    let mut rows = store::customers::page(&mut *tx, after, i64::from(limit) + 1).await?;
    let catalogue = attributes::load(&mut *tx).await?;
    let more = rows.len() > limit as usize;
    rows.truncate(limit as usize);
    let next = if more {
        rows.last().map(|r| r.external_id.clone())
    } else {
        None
    };
    let customers = rows
        .into_iter()
        .map(|r| to_customer(r, &catalogue))
        .collect();
    Ok((customers, next))
}

/// Erases a customer everywhere, in one transaction: its row, order lines, membership
/// changes, assignments in every kept run and chart-sample point are deleted; the failures of
/// runs that named it (and the `run.failed` events that announced them, with what their
/// endpoints answered) say "an erased customer" instead; its audit references are replaced.
/// Then every replica forgets its cached runs (this one at once, the others when the
/// commit's notification reaches them).
pub async fn erase(pool: &Pool, cache: &LookupCache, audit: &AuditLog, id: &str) -> Result<()> {
    let reference = audit.customer_reference(id).await?;
    let mention = RunFailure::customer_mention(id);
    let instead = format!("row ({ERASED_CUSTOMER})");
    let mut tx = crate::store::begin(pool).await?;
    if !store::customers::erase(&mut tx, id).await? {
        return Err(Error::NotFound(format!("no customer with id `{id}`")));
    }
    store::erasure::redact_run_failures(&mut tx, id, &mention, &instead).await?;
    store::erasure::redact_outbox(&mut tx, id, &mention, &instead).await?;
    store::erasure::redact_audit(&mut tx, &reference, crate::service::audit::ERASED_REFERENCE)
        .await?;
    crate::store::commit(tx).await?;
    cache.forget_all();
    Ok(())
}

/// One attribute of the catalogue with its population figures.
#[derive(Debug, Clone)]
pub struct AttributeSummary {
    pub name: String,
    pub kind: AttributeKind,
    /// Customers with a value for it.
    pub customers: i64,
    pub numeric: Option<NumericSummary>,
    pub categorical: Option<CategoricalSummary>,
}

#[derive(Debug, Clone)]
pub struct NumericSummary {
    pub min: f64,
    pub mean: f64,
    pub max: f64,
    pub std: f64,
}

#[derive(Debug, Clone)]
pub struct CategoricalSummary {
    pub distinct_values: i64,
    pub top_values: Vec<(String, i64)>,
}

pub const TOP_VALUES: i64 = 10;

/// The catalogue with figures, from one consistent snapshot.
pub async fn catalogue(pool: &Pool) -> Result<(i64, Vec<AttributeSummary>)> {
    let mut tx = store::begin_snapshot(pool).await?;
    let catalogue = attributes::load(&mut *tx).await?;
    let total = store::customers::count(&mut *tx).await?;
    let (numeric, categorical, top) = attributes::stats(&mut tx, TOP_VALUES).await?;
    let summaries = catalogue
        .iter()
        .map(|a| {
            let position = a.position as i64;
            match a.kind {
                AttributeKind::Numeric => {
                    let s = numeric.iter().find(|s| s.position == position);
                    let customers = s.map_or(0, |s| s.customers);
                    AttributeSummary {
                        name: a.name.to_string(),
                        kind: a.kind,
                        customers,
                        numeric: s.filter(|_| customers > 0).map(|s| NumericSummary {
                            min: s.min.unwrap_or(f64::NAN),
                            mean: s.mean.unwrap_or(f64::NAN),
                            max: s.max.unwrap_or(f64::NAN),
                            std: s.std.unwrap_or(f64::NAN),
                        }),
                        categorical: None,
                    }
                }
                AttributeKind::Categorical => {
                    let s = categorical.iter().find(|s| s.position == position);
                    AttributeSummary {
                        name: a.name.to_string(),
                        kind: a.kind,
                        customers: s.map_or(0, |s| s.customers),
                        numeric: None,
                        categorical: Some(CategoricalSummary {
                            distinct_values: s.map_or(0, |s| s.distinct_values),
                            top_values: top
                                .iter()
                                .filter(|t| t.position == position)
                                .map(|t| (t.value.clone(), t.customers))
                                .collect(),
                        }),
                    }
                }
            }
        })
        .collect();
    Ok((total, summaries))
}
