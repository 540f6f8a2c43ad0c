use super::*;

fn ids(c: &Columns) -> Vec<&str> {
    c.row_ids.iter().collect()
}

#[test]
fn numeric_columns_by_normalised_name() {
    let csv = b"CustomerID,Genre,Age,Annual Income (k$)\r\n0001,Male,19,15\r\n0002,Female,NA,16";
    let c = columns_from_csv(csv, None).unwrap();
    assert_eq!(ids(&c), ["0001", "0002"]);
    assert_eq!(c.names(), ["age", "annual_income_k"]);
    assert_eq!(c.options(0), [Some(19.0), None]);
    assert!(columns_from_csv(b"", None).is_err());
    assert!(columns_from_csv(b"\r\n\n", None).is_err());
    assert_eq!(
        ids(&columns_from_csv(b"name,age\nx,1\n", Some("name")).unwrap()),
        ["x"]
    );
}

#[test]
fn a_file_without_an_id_column_numbers_its_rows() {
    let csv = b"Channel,Region,Fresh,Milk\r\n2,3,12669,9656\r\n2,3,7057,9810\r\n";
    let d = read_csv(csv, None).unwrap();
    assert_eq!(d.ids, RowIds::Numbered);
    assert_eq!(ids(&d.columns), ["1", "2"]);
    assert_eq!(d.columns.names(), ["channel", "region", "fresh", "milk"]);
    assert_eq!(d.columns.options(2), [Some(12669.0), Some(7057.0)]);
    let named = read_csv(b"id,x\n7,1\n", None).unwrap();
    assert_eq!(named.ids, RowIds::Column("id".into()));
}

#[test]
fn an_id_given_twice_is_refused_with_its_lines() {
    let csv = b"customer_id,x\na,1\nb,2\n\na,3\n";
    let e = read_csv(csv, None).unwrap_err().to_string();
    assert!(
        e.contains("customer id `a` appears more than once (at lines 2, 5)"),
        "{e}"
    );
    let e = read_csv(b"name,x\nq,1\nq,2\n", Some("name"))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("`q` appears more than once (at lines 2, 3)"),
        "{e}"
    );
    assert!(e.contains("(`name`)"), "{e}");
    // Out of order: the first row whose id comes again names it.
    let e = read_csv(b"id,x\nz,1\nb,1\na,2\nb,3\na,4\n", None)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("`b` appears more than once (at lines 3, 5)"),
        "{e}"
    );
    // Increasing ids, CRLF line ends, blank lines anywhere and no final line end.
    let d = read_csv(b"id,x\r\n\r\na,1\r\nb,2\n\nc,3", None).unwrap();
    assert_eq!(ids(&d.columns), ["a", "b", "c"]);
    assert_eq!(d.columns.options(0), [Some(1.0), Some(2.0), Some(3.0)]);
}

#[test]
fn quoted_and_unquoted_files_read_alike_and_errors_name_the_line() {
    // Enough rows that the unquoted file is cut into several pieces.
    let mut plain = String::from("\u{feff}id,segment,score,spend\r\n");
    let mut quoted = String::from("id,segment,score,spend\n");
    for i in 0..5000 {
        let score = if i % 97 == 0 {
            "NA".to_owned()
        } else {
            format!("{}", i % 100)
        };
        plain.push_str(&format!("c{i},s{},{score},{}.5\r\n", i % 3, i));
        quoted.push_str(&format!("\"c{i}\",\"s{}\",{score},\"{}.5\"\n", i % 3, i));
        if i == 2500 {
            plain.push('\n');
            quoted.push('\n');
        }
    }
    let a = read_csv(plain.as_bytes(), None).unwrap().columns;
    let b = read_csv(quoted.as_bytes(), None).unwrap().columns;
    assert_eq!(a.row_ids.len(), 5000);
    assert_eq!(
        (&a.row_ids, a.names(), a.options(0), a.options(1)),
        (&b.row_ids, b.names(), b.options(0), b.options(1))
    );
    assert_eq!(a.names(), ["score", "spend"]);
    assert_eq!(&a.row_ids[4999], "c4999");
    assert_eq!(a.get(1, 4999), Some(4999.5));
    assert_eq!(a.get(0, 97), None);

    // A short line deep in the file: its own line number (the blank line counts).
    let broken = plain.replacen("c4000,s1,0,4000.5", "c4000,s1,0", 1);
    let e = read_csv(broken.as_bytes(), None).unwrap_err().to_string();
    assert_eq!(e, "line 4003: expected 4 fields, found 3");
    let broken = quoted.replacen("\"c4000\",\"s1\",0,\"4000.5\"", "\"c4000\",\"s1\",0", 1);
    let e = read_csv(broken.as_bytes(), None).unwrap_err().to_string();
    assert_eq!(e, "line 4003: expected 4 fields, found 3");
}

#[test]
fn bad_bytes_and_odd_cells_are_named_or_read_as_the_import_reads_them() {
    let e = read_csv(b"id,x\na,1\nb,\xff\n", None)
        .unwrap_err()
        .to_string();
    assert_eq!(e, "line 3: not valid UTF-8");
    let e = read_csv(b"id,x\n\"a\",1\nb,\xff\n", None)
        .unwrap_err()
        .to_string();
    assert_eq!(e, "line 3: not valid UTF-8");
    // Padded numbers, missing tokens in any case, `nan` as missing; text makes a column text.
    let c = columns_from_csv(b"id,x,y\na, 1.5 ,NaN\nb,N/A,-2\nc,3e2,x\n", None).unwrap();
    assert_eq!(c.names(), ["x"]);
    assert_eq!(c.options(0), [Some(1.5), None, Some(300.0)]);
}

#[test]
fn the_plain_decimal_fast_path_reads_exactly_as_the_standard_parser() {
    let mut state = 7u64;
    let mut next = || {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        state >> 33
    };
    let mut cells: Vec<String> = [
        "0",
        "00",
        "007",
        "1.",
        "0.1",
        "0.3",
        "123456789012345",
        "1234567890123456",
        "99999.99999",
        "4.35",
        "1e5",
        "-3",
        "1.2.3",
        "",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    for _ in 0..20_000 {
        let whole = next() % 10_000_000;
        let places = (next() % 8) as usize;
        let frac = next() % 10u64.pow(places as u32).max(1);
        cells.push(if places == 0 {
            whole.to_string()
        } else {
            format!("{whole}.{frac:0places$}")
        });
    }
    for cell in &cells {
        match plain_decimal(cell.as_bytes()) {
            Some(v) => assert_eq!(
                v.to_bits(),
                cell.parse::<f64>().unwrap().to_bits(),
                "{cell}"
            ),
            None => assert!(
                cell.len() > 15
                    || !cell.bytes().all(|b| b.is_ascii_digit() || b == b'.')
                    || cell.ends_with('.')
                    || cell.matches('.').count() > 1
                    || cell.is_empty(),
                "{cell} left to the standard parser"
            ),
        }
    }
}
