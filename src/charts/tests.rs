//! Rendering checks of every chart (SVG parsed as XML, PNG decoded).
use super::*;

#[test]
fn colours_follow_stable_ids_unless_two_would_collide() {
    assert_eq!(segment_colours(&[1, 2, 3]), [0, 1, 2]);
    assert_eq!(segment_colours(&[4, 2]), [3, 1]);
    // 1 and 10 would share indigo: the run's order decides.
    assert_eq!(segment_colours(&[1, 10, 3]), [0, 1, 2]);
}

#[test]
fn numbers_read_like_a_report() {
    assert_eq!(number(1234567.4), "1,234,567");
    assert_eq!(number(-4548.26), "-4,548");
    assert_eq!(number(134.1), "134");
    assert_eq!(count(1234), "1,234");
    assert_eq!(tick(20.0), "20");
    assert_eq!(tick(0.0), "0");
    assert_eq!(tick(150000.0), "150,000");
    assert_eq!(tick(2.5), "2.50");
    assert_eq!(count(81), "81");
    assert_eq!(number(25.88), "25.9");
    assert_eq!(number(0.5531), "0.55");
    assert_eq!(clip("Average recency · Occasional", 10), "Average r…");
}

fn keys() -> Vec<SegmentKey> {
    let labels = [
        "Low annual income · High spending score",
        "Low annual income · Low spending score",
        "Average annual income · Average spending score",
        "High annual income · High spending score",
        "High annual income · Low spending score",
    ];
    let colours = segment_colours(&[1, 2, 3, 4, 5]);
    labels
        .iter()
        .enumerate()
        .map(|(i, l)| SegmentKey {
            id: Some(i as i32 + 1),
            label: (*l).to_owned(),
            colour: colours[i],
        })
        .collect()
}

/// Every chart parses as XML, and as PNG; written to `$SEGSTORE_CHART_DIR` when set, to
/// look at.
#[test]
fn every_chart_renders_as_svg_and_png() {
    let points: Vec<(f64, f64, usize)> = (0..200)
        .map(|i| {
            let s = i % 5;
            let (cx, cy) = [
                (25.0, 80.0),
                (26.0, 20.0),
                (55.0, 50.0),
                (87.0, 82.0),
                (88.0, 17.0),
            ][s];
            let t = i as f64 * 0.7;
            (cx + 8.0 * t.sin(), cy + 9.0 * (t * 1.3).cos(), s)
        })
        .collect();
    let scatter = ScatterChart {
        title: "Mall customers".into(),
        subtitle: Some("200 customers".into()),
        x_label: "annual income k".into(),
        y_label: "spending score".into(),
        segments: keys(),
        points,
        centres: vec![
            Some((25.0, 80.0)),
            Some((26.0, 20.0)),
            Some((55.0, 50.0)),
            Some((87.0, 82.0)),
            Some((88.0, 17.0)),
        ],
    };
    let elbow = ElbowChart {
        title: "Choosing k".into(),
        subtitle: None,
        points: (1..=10)
            .map(|k| ElbowPoint {
                k,
                inertia: 270000.0 / (k as f64).powf(1.3),
                silhouette: (k > 1).then(|| 0.55 - 0.02 * (k as f64 - 5.0).powi(2)),
            })
            .collect(),
        chosen: Some((5, "best silhouette".into())),
    };
    let segments = SegmentsChart {
        title: "Segments".into(),
        subtitle: None,
        features: vec!["annual_income_k".into(), "spending_score".into()],
        segments: keys()
            .into_iter()
            .zip([
                (22, -1.3, 1.2),
                (23, -1.3, -1.1),
                (81, 0.0, 0.0),
                (39, 1.0, 1.3),
                (35, 1.1, -1.4),
            ])
            .map(|(key, (size, a, b))| SegmentBar {
                key,
                size,
                share: size as f64 / 200.0,
                lift: vec![a, b],
            })
            .collect(),
    };
    let transitions = TransitionChart {
        title: "From run 1 to run 2".into(),
        subtitle: Some("3 customers moved".into()),
        from_name: "run 1".into(),
        to_name: "run 2".into(),
        from: keys(),
        to: keys(),
        counts: (0..5)
            .map(|i| {
                (0..5)
                    .map(|j| {
                        if i == j {
                            40
                        } else if j == 3 && i == 0 {
                            3
                        } else {
                            0
                        }
                    })
                    .collect()
            })
            .collect(),
    };
    let dir = std::env::var("SEGSTORE_CHART_DIR").ok();
    let check = |name: &str, chart: &dyn Fn(Format) -> Result<Vec<u8>, ChartError>| {
        let svg = String::from_utf8(chart(Format::Svg).unwrap()).unwrap();
        let doc = roxmltree::Document::parse(&svg).unwrap();
        let texts: String = doc
            .descendants()
            .filter(|n| n.has_tag_name("text"))
            .filter_map(|n| n.text())
            .collect::<Vec<_>>()
            .join("\n");
        // Readable: no text under 12 px.
        let smallest = doc
            .descendants()
            .filter_map(|n| n.attribute("font-size"))
            .map(|size| size.trim_end_matches("px").parse::<f64>().unwrap())
            .fold(f64::INFINITY, f64::min);
        assert!(smallest >= 12.0, "{name} draws text at {smallest} px");
        let png = chart(Format::Png).unwrap();
        assert_eq!(&png[1..4], b"PNG");
        if let Some(dir) = &dir {
            std::fs::write(format!("{dir}/{name}.svg"), &svg).unwrap();
            std::fs::write(format!("{dir}/{name}.png"), &png).unwrap();
        }
        texts
    };
    let texts = check("scatter", &|f| render(&scatter, f));
    for key in keys() {
        assert!(texts.contains(&key.name()), "{texts}");
    }
    let circles = {
        let svg = String::from_utf8(render(&scatter, Format::Svg).unwrap()).unwrap();
        svg.matches("<circle").count()
    };
    assert_eq!(circles, 200);
    // Each centre's dark cross lies on a white one, so it shows on dark segment colours.
    let svg = String::from_utf8(render(&scatter, Format::Svg).unwrap()).unwrap();
    let white = svg
        .matches(r##"stroke="#FFFFFF" stroke-width="7""##)
        .count();
    let dark = svg
        .matches(r##"stroke="#222222" stroke-width="3""##)
        .count();
    assert!(
        white >= 10 && white == dark,
        "{white} outlines for {dark} strokes"
    );
    let texts = check("elbow", &|f| render(&elbow, f));
    assert!(texts.contains("k = 5 (best silhouette)"), "{texts}");
    let texts = check("segments", &|f| render(&segments, f));
    assert!(
        texts.contains("+1.30") && texts.contains("81 (40.5%)"),
        "{texts}"
    );
    let texts = check("transitions", &|f| render(&transitions, f));
    assert!(texts.contains("run 2"), "{texts}");
}
