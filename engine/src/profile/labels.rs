//! The words a marketer reads for a segment: its label from the features that set it apart
//! (or the categories that dominate it) and the classic income × spending persona.

use super::LEVEL_THRESHOLD;
use crate::categorical::{self, CategoryShares};

/// The phrase a segment's categories give its label, if one stands out: "All female" (every
/// member, where not everyone is), "Mostly female" (at least 2/3 of the members and 15% over
/// everyone's share); of several, the largest lift. A level that is a code ("2") is named
/// with its feature ("Mostly channel 2").
pub(super) fn category_phrase(categories: &[CategoryShares]) -> Option<String> {
    categories
        .iter()
        .flat_map(|c| c.levels.iter().map(move |l| (c, l)))
        .filter(|(_, l)| l.share >= categorical::MOSTLY_SHARE && l.lift >= categorical::MOSTLY_LIFT)
        .max_by(|a, b| a.1.lift.total_cmp(&b.1.lift))
        .map(|(c, l)| {
            let quantifier = if l.share >= 1.0 { "All" } else { "Mostly" };
            let code = l.level.parse::<f64>().is_ok() || l.level.chars().count() == 1;
            if code {
                format!("{quantifier} {} {}", humanize(&c.feature), l.level)
            } else {
                format!("{quantifier} {}", lower_first(&l.level))
            }
        })
}

/// "Female" → "female", but "UK" and "VIP" stay as written.
pub(super) fn lower_first(level: &str) -> String {
    let mut chars = level.chars();
    match (chars.next(), chars.next()) {
        (Some(first), Some(second)) if first.is_uppercase() && !second.is_uppercase() => {
            first.to_lowercase().chain(level.chars().skip(1)).collect()
        }
        _ => level.to_owned(),
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Level {
    Low,
    Average,
    High,
}

pub(super) fn level(lift: f64) -> Level {
    if lift >= LEVEL_THRESHOLD {
        Level::High
    } else if lift <= -LEVEL_THRESHOLD {
        Level::Low
    } else {
        Level::Average
    }
}

/// `annual_income_k` → "annual income", `spending_score` → "spending score".
pub fn humanize(feature: &str) -> String {
    let name = feature.rsplit('.').next().unwrap_or(feature);
    let mut words: Vec<&str> = name.split('_').filter(|w| !w.is_empty()).collect();
    if words.len() > 1 && words.last().is_some_and(|w| w.len() == 1) {
        words.pop();
    }
    words.join(" ")
}

/// Up to three features by the order given (most distinguishing first when there are more),
/// each with its level.
pub(super) fn label(features: &[String], lift: &[f64], top: &[usize]) -> String {
    let mut shown: Vec<usize> = if features.len() <= 3 {
        (0..features.len()).collect()
    } else {
        top.to_vec()
    };
    if features.len() <= 3 {
        shown.sort_unstable();
    }
    shown
        .iter()
        .map(|&j| phrase(&features[j], level(lift[j])))
        .collect::<Vec<_>>()
        .join(" · ")
}

/// A feature at a level, in a marketer's words: RFM features have their own ("Recent",
/// "Frequent", "High spend"); others read "High annual income".
pub(super) fn phrase(feature: &str, level: Level) -> String {
    let name = humanize(feature);
    let rfm: Option<[&str; 3]> = if name.contains("recency") {
        Some(["Recent", "Average recency", "Lapsed"])
    } else if name.contains("frequency") {
        Some(["Rare", "Occasional", "Frequent"])
    } else if name.contains("monetary") {
        Some(["Low spend", "Average spend", "High spend"])
    } else {
        None
    };
    let i = match level {
        Level::Low => 0,
        Level::Average => 1,
        Level::High => 2,
    };
    match rfm {
        Some(words) => words[i].to_owned(),
        None => format!("{} {name}", ["Low", "Average", "High"][i]),
    }
}

/// The classic income × spending personas, when both kinds of feature are present.
pub(super) fn persona(features: &[String], lift: &[f64]) -> Option<String> {
    let find = |needle: &str| features.iter().position(|f| f.contains(needle));
    let income = find("income")?;
    let spend = find("spend")?;
    let name = match (level(lift[income]), level(lift[spend])) {
        (Level::High, Level::High) => "VIP",
        (Level::Low, Level::Low) => "Bargain / low value",
        (Level::Low, Level::High) => "Impulsive",
        (Level::High, Level::Low) => "Potential converters",
        (Level::Average, Level::Average) => "Average",
        _ => return None,
    };
    Some(name.to_owned())
}
