//! Reading an order export: which column holds what (Online Retail's header detected, other
//! exports mapped by query parameters), and each data line parsed into an order line, with
//! errors that name the column.

use super::csv::{Record, normalize_header, quoted_list};
use crate::domain::order::{
    DateOrder, OrderLine, line_amount, parse_customer_id, parse_number, parse_order_id,
    parse_timestamp,
};
use crate::domain::{Invalid, is_missing};
use crate::error::{Error, FieldError, Result, quote};
use std::collections::HashMap;

/// The columns of an order export, and the header names recognised for each (normalised).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    Order,
    Customer,
    Date,
    Quantity,
    UnitPrice,
    Amount,
    Line,
    Product,
    Description,
    Currency,
    Country,
}

impl Role {
    pub const ALL: [Role; 11] = [
        Role::Order,
        Role::Customer,
        Role::Date,
        Role::Quantity,
        Role::UnitPrice,
        Role::Amount,
        Role::Line,
        Role::Product,
        Role::Description,
        Role::Currency,
        Role::Country,
    ];

    /// The query parameter naming this column, and the field name in answers.
    pub fn name(self) -> &'static str {
        match self {
            Role::Order => "order",
            Role::Customer => "customer",
            Role::Date => "date",
            Role::Quantity => "quantity",
            Role::UnitPrice => "unit_price",
            Role::Amount => "amount",
            Role::Line => "line",
            Role::Product => "product",
            Role::Description => "description",
            Role::Currency => "currency",
            Role::Country => "country",
        }
    }

    fn candidates(self) -> &'static [&'static str] {
        match self {
            Role::Order => &[
                "invoice_no",
                "invoice",
                "invoice_number",
                "order_id",
                "order_no",
                "order_number",
                "order",
                "transaction_id",
            ],
            Role::Customer => &["customer_id", "customerid", "client_id", "customer"],
            Role::Date => &[
                "invoice_date",
                "order_date",
                "ordered_at",
                "purchase_date",
                "date",
                "timestamp",
                "created_at",
            ],
            Role::Quantity => &["quantity", "qty", "units"],
            Role::UnitPrice => &["unit_price", "unitprice", "price"],
            Role::Amount => &[
                "line_amount",
                "line_total",
                "amount",
                "total",
                "revenue",
                "sales",
            ],
            Role::Line => &["line_id", "line_no", "line_number", "line"],
            Role::Product => &["stock_code", "product_id", "sku", "product", "item"],
            Role::Description => &["description", "product_name", "item_name"],
            Role::Currency => &["currency"],
            Role::Country => &["country"],
        }
    }

    fn required(self) -> bool {
        matches!(
            self,
            Role::Order | Role::Customer | Role::Date | Role::Quantity
        )
    }
}

#[derive(Debug, Clone, Default)]
pub struct OrderImportOptions {
    /// Header of the column of a role, overriding detection.
    pub columns: HashMap<Role, String>,
    pub date_order: DateOrder,
    /// ISO-8859-1 instead of UTF-8.
    pub latin1: bool,
}

/// Column positions of the file.
#[derive(Debug)]
pub struct Mapping {
    pub at: HashMap<Role, usize>,
    pub width: usize,
}

impl Mapping {
    pub fn plan(
        header: &[String],
        options: &OrderImportOptions,
    ) -> Result<(Self, Vec<(Role, String)>)> {
        let normal: Vec<Option<String>> = header.iter().map(|h| normalize_header(h)).collect();
        let find = |wanted: &str| {
            let n = normalize_header(wanted);
            header
                .iter()
                .position(|h| h.trim() == wanted.trim())
                .or_else(|| normal.iter().position(|h| h.is_some() && *h == n))
        };
        let mut at = HashMap::new();
        let mut used = Vec::new();
        let mut errors = Vec::new();
        for role in Role::ALL {
            let found = match options.columns.get(&role) {
                Some(name) => match find(name) {
                    Some(i) => Some(i),
                    None => {
                        errors.push(FieldError::field(
                            format!("{}_column", role.name()),
                            format!("no column `{name}` in the header ({})", quoted_list(header)),
                        ));
                        continue;
                    }
                },
                None => role.candidates().iter().find_map(|c| {
                    normal
                        .iter()
                        .position(|h| h.as_deref() == Some(*c))
                        .filter(|i| !at.values().any(|j| j == i))
                }),
            };
            match found {
                Some(i) => {
                    at.insert(role, i);
                    used.push((role, header[i].clone()));
                }
                None if role.required() => errors.push(FieldError::field(
                    format!("{}_column", role.name()),
                    format!(
                        "no {} column found in the header ({}); name it with `?{}_column=`",
                        role.name(),
                        quoted_list(header),
                        role.name()
                    ),
                )),
                None => {}
            }
        }
        if !at.contains_key(&Role::UnitPrice) && !at.contains_key(&Role::Amount) {
            errors.push(FieldError::field(
                "unit_price_column",
                format!(
                    "no unit price or line amount column in the header ({}); name one with `?unit_price_column=` or `?amount_column=`",
                    quoted_list(header)
                ),
            ));
        }
        if !errors.is_empty() {
            return Err(Error::invalid_fields(errors));
        }
        Ok((
            Self {
                at,
                width: header.len(),
            },
            used,
        ))
    }
}

/// A line's outcome before staging.
pub enum Parsed {
    Line(Box<OrderLine>),
    NoCustomer,
}

/// Reads one data line; errors name the column.
pub fn parse_line(
    fields: &[&str],
    m: &Mapping,
    header: &[String],
    date_order: DateOrder,
) -> std::result::Result<Parsed, (String, Invalid)> {
    let get = |role: Role| m.at.get(&role).map(|&i| fields[i]);
    let col = |role: Role| header[m.at[&role]].clone();
    let opt_text = |role: Role| {
        get(role)
            .map(str::trim)
            .filter(|s| !is_missing(s))
            .map(str::to_owned)
    };
    let opt_number = |role: Role| -> std::result::Result<Option<f64>, (String, Invalid)> {
        match get(role).map(str::trim) {
            None => Ok(None),
            Some(s) if is_missing(s) => Ok(None),
            Some(s) => parse_number(s).map(Some).map_err(|e| (col(role), e)),
        }
    };
    let order_id =
        parse_order_id(get(Role::Order).unwrap_or("")).map_err(|e| (col(Role::Order), e))?;
    let Some(customer) = parse_customer_id(get(Role::Customer).unwrap_or(""))
        .map_err(|e| (col(Role::Customer), e))?
    else {
        return Ok(Parsed::NoCustomer);
    };
    let ordered_at = parse_timestamp(get(Role::Date).unwrap_or(""), date_order)
        .map_err(|e| (col(Role::Date), e))?;
    let quantity =
        parse_number(get(Role::Quantity).unwrap_or("")).map_err(|e| (col(Role::Quantity), e))?;
    let unit_price = opt_number(Role::UnitPrice)?;
    let amount = opt_number(Role::Amount)?;
    let line_no = match get(Role::Line).map(str::trim) {
        None => None,
        Some(s) => Some(s.parse::<i32>().ok().filter(|&n| n >= 1).ok_or_else(|| {
            (
                col(Role::Line),
                Invalid(format!(
                    "{} is not a line number (an integer ≥ 1)",
                    quote(s)
                )),
            )
        })?),
    };
    let amount = line_amount(quantity, unit_price, amount).map_err(|e| (col(Role::Quantity), e))?;
    Ok(Parsed::Line(Box::new(OrderLine {
        order_id,
        line_no,
        customer,
        ordered_at,
        product: opt_text(Role::Product),
        description: opt_text(Role::Description),
        quantity,
        unit_price,
        amount,
        currency: opt_text(Role::Currency),
        country: opt_text(Role::Country),
    })))
}

/// A field's text: UTF-8, or ISO-8859-1 when `latin1`; `None` when it is not valid UTF-8.
pub fn decode(field: &[u8], latin1: bool) -> Option<std::borrow::Cow<'_, str>> {
    if latin1 {
        Some(std::borrow::Cow::Owned(
            field.iter().map(|&b| b as char).collect(),
        ))
    } else {
        std::str::from_utf8(field)
            .ok()
            .map(std::borrow::Cow::Borrowed)
    }
}

/// What one record of an order CSV is.
pub enum OrderRecord<'a> {
    /// The header: the column used for each role found.
    Header(Vec<(Role, String)>),
    /// A data line with its outcome; `order` is its order id as written, whatever the
    /// outcome (every line of an order takes a position, stored or not).
    Line {
        line: u64,
        parsed: std::result::Result<Parsed, (String, Invalid)>,
        order: Option<&'a str>,
    },
    /// A data line with the wrong number of fields.
    Width {
        line: u64,
        expected: usize,
        found: usize,
    },
}

/// The order CSV's mapping, record by record: the header (Online Retail's detected, other
/// exports mapped by the options) and then each line parsed into an order line.
pub struct OrderRecords {
    options: OrderImportOptions,
    header: Option<(Vec<String>, Mapping)>,
}

impl OrderRecords {
    pub fn new(options: OrderImportOptions) -> Self {
        Self {
            options,
            header: None,
        }
    }

    /// Whether the header has been read.
    pub fn has_header(&self) -> bool {
        self.header.is_some()
    }

    /// Reads a record and hands what it is to `out`. An undecodable record or an unusable
    /// header refuses the file (`Err`); a bad line is handed on.
    pub fn read(&mut self, r: Record<'_>, out: &mut impl FnMut(OrderRecord<'_>)) -> Result<()> {
        let texts: Vec<std::borrow::Cow<'_, str>> = r
            .fields()
            .map(|f| decode(f, self.options.latin1))
            .collect::<Option<_>>()
            .ok_or_else(|| {
                Error::invalid_many(
                    format!(
                        "line {}: not valid UTF-8 (for ISO-8859-1 files pass `encoding=iso-8859-1`)",
                        r.line
                    ),
                    vec![FieldError::line(
                        r.line,
                        None,
                        "not valid UTF-8; pass `encoding=iso-8859-1` for Latin-1 files",
                    )],
                )
            })?;
        let Some((names, mapping)) = &self.header else {
            let names: Vec<String> = texts
                .iter()
                .enumerate()
                .map(|(i, t)| {
                    if i == 0 {
                        t.trim_start_matches('\u{feff}').to_owned()
                    } else {
                        t.to_string()
                    }
                })
                .collect();
            let (mapping, used) = Mapping::plan(&names, &self.options)?;
            self.header = Some((names, mapping));
            out(OrderRecord::Header(used));
            return Ok(());
        };
        if r.len() == 1 && texts[0].trim().is_empty() {
            return Ok(()); // a blank line
        }
        let fields: Vec<&str> = texts.iter().map(|t| t.as_ref()).collect();
        if fields.len() != mapping.width {
            out(OrderRecord::Width {
                line: r.line,
                expected: mapping.width,
                found: fields.len(),
            });
            return Ok(());
        }
        out(OrderRecord::Line {
            line: r.line,
            parsed: parse_line(&fields, mapping, names, self.options.date_order),
            order: mapping.at.get(&Role::Order).map(|&i| fields[i]),
        });
        Ok(())
    }
}
