//! The CSV reader's tests: quoting, line ends, chunk boundaries anywhere, limits, and header
//! normalisation.

use super::*;

fn parse_all(chunks: &[&[u8]], reader: &mut RecordReader) -> Vec<(u64, Vec<String>)> {
    let mut rows = Vec::new();
    let mut push = |r: Record<'_>| -> Result<(), CsvError> {
        rows.push((
            r.line,
            r.fields()
                .map(|f| String::from_utf8(f.to_vec()).unwrap())
                .collect(),
        ));
        Ok(())
    };
    for chunk in chunks {
        reader.feed(chunk, &mut push).unwrap();
    }
    reader.finish(&mut push).unwrap();
    rows
}

#[test]
fn parses_bom_crlf_quotes_and_missing_final_newline() {
    let data = b"\xef\xbb\xbfid,name,note\r\n0001,\"Doe, J\",\"say \"\"hi\"\"\"\r\n\r\n0002,x,\"two\nlines\"\r\n0003,y,z";
    let rows = parse_all(&[data], &mut RecordReader::new());
    assert_eq!(rows.len(), 4);
    assert_eq!(
        rows[0],
        (1, vec!["id".into(), "name".into(), "note".into()])
    );
    assert_eq!(rows[1].1, vec!["0001", "Doe, J", "say \"hi\""]);
    assert_eq!(
        rows[2],
        (4, vec!["0002".into(), "x".into(), "two\nlines".into()])
    );
    assert_eq!(rows[3], (6, vec!["0003".into(), "y".into(), "z".into()]));
}

#[test]
fn line_numbers_with_lf_endings_and_blank_lines() {
    let rows = parse_all(
        &[b"a,b\n1,2\n\n\n3,\"x\ny\"\n4,5\n"],
        &mut RecordReader::new(),
    );
    let lines: Vec<u64> = rows.iter().map(|r| r.0).collect();
    assert_eq!(lines, [1, 2, 5, 7]);
}

#[test]
fn records_split_across_chunks_and_tiny_buffers() {
    for data in [
        &b"a,b\n1,\"long field with, comma\"\n\n2,3\n"[..],
        &b"a,b\r\n1,\"long field with, comma\"\r\n\r\n2,3"[..],
    ] {
        let whole = parse_all(&[data], &mut RecordReader::new());
        assert_eq!(whole.iter().map(|r| r.0).collect::<Vec<_>>(), [1, 2, 4]);
        assert_eq!(whole[1].1[1], "long field with, comma");
        for split in 1..data.len() {
            let (x, y) = data.split_at(split);
            let mut reader = RecordReader::with_capacity(1, 1, CsvLimits::default());
            assert_eq!(parse_all(&[x, y], &mut reader), whole, "split at {split}");
        }
    }
}

#[derive(Debug, PartialEq)]
enum Stop {
    Csv(CsvError),
    At(u64),
}

impl From<CsvError> for Stop {
    fn from(e: CsvError) -> Self {
        Stop::Csv(e)
    }
}

#[test]
fn callback_errors_stop_the_parse() {
    let mut reader = RecordReader::new();
    let r = reader.feed(b"a\nb\n", &mut |r: Record<'_>| {
        if r.line == 2 {
            Err(Stop::At(r.line))
        } else {
            Ok(())
        }
    });
    assert_eq!(r, Err(Stop::At(2)));
}

fn read(limits: CsvLimits, chunks: &[&[u8]]) -> Result<usize, CsvError> {
    let mut reader = RecordReader::with_limits(limits);
    let mut records = 0;
    let mut count = |_: Record<'_>| -> Result<(), CsvError> {
        records += 1;
        Ok(())
    };
    for chunk in chunks {
        reader.feed(chunk, &mut count)?;
    }
    reader.finish(&mut count)?;
    Ok(records)
}

#[test]
fn fields_and_lines_are_bounded_and_memory_with_them() {
    let limits = CsvLimits {
        max_field_bytes: 10,
        max_line_bytes: 25,
    };
    assert_eq!(read(limits, &[b"a,b\n0123456789,x\n"]), Ok(2));
    assert_eq!(
        read(limits, &[b"a,b\n1,01234567890\n"]),
        Err(CsvError::FieldTooLong {
            line: 2,
            field: 1,
            limit: 10
        })
    );
    assert_eq!(
        read(limits, &[b"a,b\n0123456789,0123456789,0123456789\n"]),
        Err(CsvError::LineTooLong { line: 2, limit: 25 })
    );
    // An unterminated quote, fed in small chunks, stops at the limit.
    let mut reader = RecordReader::with_limits(limits);
    let mut err = None;
    for _ in 0..100 {
        if let Err(e) = reader.feed(b"\"xxxxxxx", &mut |_: Record<'_>| Ok::<_, CsvError>(())) {
            err = Some(e);
            break;
        }
    }
    assert_eq!(
        err,
        Some(CsvError::FieldTooLong {
            line: 1,
            field: 0,
            limit: 10
        })
    );
    assert!(reader.out.len() <= 26, "grew to {}", reader.out.len());
    // A header line without a newline.
    let long = vec![b'h'; 4096];
    assert!(matches!(
        read(limits, &[&long]),
        Err(CsvError::FieldTooLong { line: 1, .. })
    ));
}

#[test]
fn a_nul_byte_is_refused_with_its_line_and_field() {
    assert_eq!(
        read(CsvLimits::default(), &[b"id,name\n1,ok\n2,a\0b\n"]),
        Err(CsvError::Nul { line: 3, field: 1 })
    );
    assert_eq!(
        read(CsvLimits::default(), &[b"id,name\r\n1,ok\r\n\0,b\r\n"]),
        Err(CsvError::Nul { line: 3, field: 0 })
    );
}

#[test]
fn normalizes_headers() {
    let cases = [
        ("CustomerID", "customer_id"),
        ("Genre", "gender"),
        ("Gender", "gender"),
        ("Age", "age"),
        ("Annual Income (k$)", "annual_income_k"),
        ("Annual_Income(k$)", "annual_income_k"),
        ("Spending Score (1-100)", "spending_score"),
        ("InvoiceNo", "invoice_no"),
        ("HTMLParser", "html_parser"),
        ("Detergents_Paper", "detergents_paper"),
        ("  total spend 2023 ", "total_spend_2023"),
        ("2023 spend", "col_2023_spend"),
        ("customer_id", "customer_id"),
    ];
    for (raw, want) in cases {
        assert_eq!(normalize_header(raw).as_deref(), Some(want), "{raw}");
    }
    assert_eq!(normalize_header("(1-100)"), None);
    assert_eq!(normalize_header(" $ "), None);
}
