//! The OpenAPI document's `webhooks`: what segstore POSTs to a webhook for each event type,
//! so receivers can generate or check their handlers from the same document as the API.

use crate::domain::webhook::EventType;
use crate::domain::webhook::payload::{
    ActivationEvent, DriftEvent, MembershipChanges, PingEvent, RunEvent,
};
use utoipa::ToSchema;
use utoipa::openapi::path::{OperationBuilder, ParameterBuilder, ParameterIn, PathItem};
use utoipa::openapi::request_body::RequestBodyBuilder;
use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, Schema, SchemaFormat, Type};
use utoipa::openapi::{
    ContentBuilder, HttpMethod, OpenApi, PathsBuilder, Ref, RefOr, Required, ResponseBuilder,
};

/// Each event type, the schema of its `data` and what it means.
fn events() -> [(EventType, String, &'static str); 6] {
    [
        (
            EventType::RunSucceeded,
            RunEvent::name().into_owned(),
            "A run succeeded, whether or not it became its segmentation's active run.",
        ),
        (
            EventType::RunFailed,
            RunEvent::name().into_owned(),
            "A run failed (`error` says why).",
        ),
        (
            EventType::SegmentationActivated,
            ActivationEvent::name().into_owned(),
            "A run became its segmentation's active run: by succeeding (auto-activation), or by \
             `POST /v1/runs/{id}/activate` (a rollback too). Counts the customers who entered, \
             moved and left segments.",
        ),
        (
            EventType::MembershipChanged,
            MembershipChanges::name().into_owned(),
            "A batch of the customers who entered, moved between or left segments at an \
             activation (the webhook's `batch_size` per delivery, in customer id order: \
             changes `first`..`last` of `total`). The same changes as \
             `GET /v1/segmentations/{id}/changes`.",
        ),
        (
            EventType::DriftDetected,
            DriftEvent::name().into_owned(),
            "A run drifted past its segmentation's thresholds (`drift` in the segmentation): \
             which it crossed, and whether its activation is held.",
        ),
        (
            EventType::Ping,
            PingEvent::name().into_owned(),
            "`POST /v1/webhooks/{id}/ping`: a test of the endpoint.",
        ),
    ]
}

/// The Standard Webhooks envelope around one event type's data.
fn envelope(kind: EventType, data: &str) -> ObjectBuilder {
    ObjectBuilder::new()
        .property(
            "type",
            ObjectBuilder::new()
                .schema_type(Type::String)
                .enum_values(Some([kind.as_str()])),
        )
        .property(
            "timestamp",
            ObjectBuilder::new()
                .schema_type(Type::String)
                .format(Some(SchemaFormat::KnownFormat(KnownFormat::DateTime)))
                .description(Some(
                    "When the event happened (the attempt's time is `webhook-timestamp`).",
                )),
        )
        .property("data", Ref::from_schema_name(data))
        .required("type")
        .required("timestamp")
        .required("data")
}

fn header(name: &str, description: &str) -> utoipa::openapi::path::Parameter {
    ParameterBuilder::new()
        .name(name)
        .parameter_in(ParameterIn::Header)
        .required(Required::True)
        .description(Some(description))
        .schema(Some(ObjectBuilder::new().schema_type(Type::String)))
        .build()
}

/// A type's schema and those it refers to.
fn register<T: ToSchema>(schemas: &mut Vec<(String, RefOr<Schema>)>) {
    T::schemas(schemas);
    schemas.push((T::name().into_owned(), T::schema()));
}

/// Declares every event as a webhook of the document, and the schemas of their data.
pub fn declare(doc: &mut OpenApi) {
    let components = doc.components.get_or_insert_with(Default::default);
    let mut schemas = Vec::new();
    register::<RunEvent>(&mut schemas);
    register::<ActivationEvent>(&mut schemas);
    register::<MembershipChanges>(&mut schemas);
    register::<PingEvent>(&mut schemas);
    register::<DriftEvent>(&mut schemas);
    components.schemas.extend(schemas);

    let mut paths = PathsBuilder::new();
    for (kind, data, description) in events() {
        let operation = OperationBuilder::new()
            .operation_id(Some(kind.as_str().replace('.', "_")))
            .summary(Some(format!("`{kind}`")))
            .description(Some(description))
            .parameter(header(
                "webhook-id",
                "`msg_…`: the same on every attempt of a delivery (deduplicate with it).",
            ))
            .parameter(header(
                "webhook-timestamp",
                "Seconds since the Unix epoch when this attempt was signed (refuse old ones).",
            ))
            .parameter(header(
                "webhook-signature",
                "`v1,<base64 HMAC-SHA256 of {webhook-id}.{webhook-timestamp}.{body}>`, \
                 space-separated when two secrets sign (after a rotation).",
            ))
            .request_body(Some(
                RequestBodyBuilder::new()
                    .required(Some(Required::True))
                    .content(
                        "application/json",
                        ContentBuilder::new()
                            .schema(Some(envelope(kind, &data)))
                            .build(),
                    )
                    .build(),
            ))
            .response(
                "2XX",
                ResponseBuilder::new().description("Received: the delivery is done"),
            )
            .response(
                "410",
                ResponseBuilder::new()
                    .description("Gone: segstore disables the webhook and stops delivering"),
            )
            .response(
                "default",
                ResponseBuilder::new().description(
                    "Anything else (or no answer within the timeout) is retried with backoff \
                     for a day, then the webhook is disabled",
                ),
            );
        paths = paths.path(kind.as_str(), PathItem::new(HttpMethod::Post, operation));
    }
    doc.webhooks = Some(paths.build());
}
