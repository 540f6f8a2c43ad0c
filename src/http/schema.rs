//! What the OpenAPI document says beyond the Rust types: the patterns the parsers enforce,
//! the attribute maps' value types, and the one rule every text obeys (no NUL, which
//! PostgreSQL text cannot hold). Generated clients and schemathesis read these, so a request
//! valid by the document is one the server accepts.

use utoipa::openapi::schema::{
    AdditionalProperties, ArrayItems, ObjectBuilder, OneOfBuilder, Schema, SchemaFormat, Type,
};
use utoipa::openapi::{KnownFormat, OpenApi, RefOr};

/// A customer id: 1 to 128 characters, no control characters, no white space at either end
/// (`ExternalId::parse`).
pub const CUSTOMER_ID: &str =
    r"^[^\s\x00-\x1f\x7f-\x9f](?:[^\x00-\x1f\x7f-\x9f]{0,126}[^\s\x00-\x1f\x7f-\x9f])?$";

/// An attribute name: snake_case, starting with a letter, at most 63 characters
/// (`AttributeName::parse`). Parameter annotations take literals only: the `name` of
/// `DELETE /v1/attributes/{name}` spells it out again, as the segment parameters spell out
/// `^(noise|[+-]?[0-9]{1,9})$` (`service::runs::parse_segment`).
pub const ATTRIBUTE_NAME: &str = r"^[a-z][a-z0-9_]{0,62}$";

/// Text without NUL.
pub const NO_NUL: &str = r"^[^\x00]*$";

/// Attribute values by name: numbers, strings, booleans, or `null` to clear one.
pub struct AttributeValues;

impl utoipa::PartialSchema for AttributeValues {
    fn schema() -> RefOr<Schema> {
        let value = OneOfBuilder::new()
            .item(ObjectBuilder::new().schema_type(Type::Number))
            .item(
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .pattern(Some(NO_NUL)),
            )
            .item(ObjectBuilder::new().schema_type(Type::Boolean))
            .item(ObjectBuilder::new().schema_type(Type::Null));
        ObjectBuilder::new()
            .schema_type(Type::Object)
            .description(Some(
                "Attribute values by name (snake_case): numbers, strings, booleans, or `null`.",
            ))
            .property_names(Some(
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .pattern(Some(ATTRIBUTE_NAME)),
            ))
            .additional_properties(Some(AdditionalProperties::RefOr(RefOr::T(
                value.build().into(),
            ))))
            .into()
    }
}

impl utoipa::ToSchema for AttributeValues {}

/// A customer's attribute values by name, as answers give them: numbers and strings
/// (attributes without a value are absent).
pub struct AttributeMap;

impl utoipa::PartialSchema for AttributeMap {
    fn schema() -> RefOr<Schema> {
        let value = OneOfBuilder::new()
            .item(ObjectBuilder::new().schema_type(Type::Number))
            .item(ObjectBuilder::new().schema_type(Type::String));
        ObjectBuilder::new()
            .schema_type(Type::Object)
            .description(Some(
                "Attribute values by name (snake_case): numbers for numeric attributes, \
                 strings for categorical ones; an attribute without a value is absent.",
            ))
            .property_names(Some(
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .pattern(Some(ATTRIBUTE_NAME)),
            ))
            .additional_properties(Some(AdditionalProperties::RefOr(RefOr::T(
                value.build().into(),
            ))))
            .into()
    }
}

impl utoipa::ToSchema for AttributeMap {}

/// Every operation of the document, to finish.
pub fn operations_mut(
    doc: &mut OpenApi,
) -> impl Iterator<Item = &mut utoipa::openapi::path::Operation> {
    doc.paths.paths.values_mut().flat_map(|item| {
        [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.patch,
        ]
        .into_iter()
        .flatten()
    })
}

/// Gives every text of the document that has no pattern of its own the [`NO_NUL`] one:
/// request fields, parameters and the answers alike (answers never hold NUL either).
pub fn forbid_nul(doc: &mut OpenApi) {
    if let Some(components) = doc.components.as_mut() {
        for schema in components.schemas.values_mut() {
            walk(schema);
        }
    }
    for operation in operations_mut(doc) {
        for parameter in operation.parameters.iter_mut().flatten() {
            if let RefOr::T(parameter) = parameter
                && let Some(schema) = parameter.schema.as_mut()
            {
                never_null(schema);
                walk(schema);
            }
        }
        if let Some(RefOr::T(body)) = operation.request_body.as_mut() {
            for content in body.content.values_mut() {
                if let RefOr::T(content) = content
                    && let Some(schema) = content.schema.as_mut()
                {
                    walk(schema);
                }
            }
        }
    }
}

/// A parameter is absent or a value, never `null`: an optional one's `["string", "null"]` is
/// a `"string"`.
fn never_null(schema: &mut RefOr<Schema>) {
    use utoipa::openapi::schema::SchemaType;
    if let RefOr::T(Schema::Object(object)) = schema
        && let SchemaType::Array(types) = &object.schema_type
    {
        let kept: Vec<Type> = types
            .iter()
            .filter(|t| **t != Type::Null)
            .cloned()
            .collect();
        if let [only] = kept.as_slice() {
            object.schema_type = SchemaType::Type(only.clone());
        }
    }
}

fn walk(schema: &mut RefOr<Schema>) {
    let RefOr::T(schema) = schema else {
        return;
    };
    match schema {
        Schema::Object(object) => {
            let is_text = matches!(
                &object.schema_type,
                utoipa::openapi::schema::SchemaType::Type(Type::String)
            ) || matches!(&object.schema_type, utoipa::openapi::schema::SchemaType::Array(types) if types.contains(&Type::String));
            let free_text = !matches!(
                object.format,
                Some(SchemaFormat::KnownFormat(
                    KnownFormat::Binary
                        | KnownFormat::Uuid
                        | KnownFormat::DateTime
                        | KnownFormat::Date
                ))
            );
            if is_text && free_text && object.pattern.is_none() && object.enum_values.is_none() {
                object.pattern = Some(NO_NUL.to_owned());
            }
            for property in object.properties.values_mut() {
                walk(property);
            }
            if let Some(additional) = object.additional_properties.as_mut()
                && let AdditionalProperties::RefOr(inner) = additional.as_mut()
            {
                walk(inner);
            }
        }
        Schema::Array(array) => {
            if let ArrayItems::RefOrSchema(items) = &mut array.items {
                walk(items);
            }
        }
        Schema::OneOf(one) => one.items.iter_mut().for_each(walk),
        Schema::AllOf(all) => all.items.iter_mut().for_each(walk),
        Schema::AnyOf(any) => any.items.iter_mut().for_each(walk),
        _ => {}
    }
}

/// A file an operation answers (CSV, SVG) is bytes to a client: `format: binary` on its
/// inline `type: string`, so that generators hand it over as a file (openapi-python-client's
/// `File`) instead of claiming text they did not decode.
pub fn files_are_bytes(doc: &mut OpenApi) {
    for operation in operations_mut(doc) {
        for response in operation.responses.responses.values_mut() {
            let RefOr::T(response) = response else {
                continue;
            };
            for (media, content) in response.content.iter_mut() {
                if media.ends_with("json") {
                    continue;
                }
                if let RefOr::T(content) = content
                    && let Some(RefOr::T(Schema::Object(object))) = content.schema.as_mut()
                    && matches!(
                        &object.schema_type,
                        utoipa::openapi::schema::SchemaType::Type(Type::String)
                    )
                    && object.format.is_none()
                {
                    object.format = Some(SchemaFormat::KnownFormat(KnownFormat::Binary));
                }
            }
        }
    }
}
