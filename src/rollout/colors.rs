//! The two colours and the traffic split between them.
use serde::{Deserialize, Serialize};

#[derive(
    Clone,
    Copy,
    PartialEq,
    Eq,
    Debug,
    Serialize,
    Deserialize,
    Hash,
    PartialOrd,
    Ord,
    clap::ValueEnum,
)]
#[serde(rename_all = "lowercase")]
pub enum Color {
    Blue,
    Green,
}

impl Color {
    pub const BOTH: [Color; 2] = [Color::Blue, Color::Green];

    pub fn other(self) -> Color {
        match self {
            Color::Blue => Color::Green,
            Color::Green => Color::Blue,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Color::Blue => "blue",
            Color::Green => "green",
        }
    }
}

impl std::fmt::Display for Color {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Traffic split. Built only through constructors that keep the sum at 100.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct Weights {
    pub blue: u8,
    pub green: u8,
}

impl Weights {
    pub fn all(to: Color) -> Weights {
        Weights::split(to, 100)
    }

    /// `color` gets `percent` (clamped to 100), the other colour the rest.
    pub fn split(color: Color, percent: u8) -> Weights {
        let p = percent.min(100);
        match color {
            Color::Blue => Weights {
                blue: p,
                green: 100 - p,
            },
            Color::Green => Weights {
                blue: 100 - p,
                green: p,
            },
        }
    }

    /// Percentages from relative weights (ALB weights are relative); None when both are 0.
    pub fn from_relative(blue: f64, green: f64) -> Option<Weights> {
        let total = blue + green;
        if total <= 0.0 {
            return None;
        }
        let b = ((blue / total) * 100.0).round().clamp(0.0, 100.0) as u8;
        Some(Weights {
            blue: b,
            green: 100 - b,
        })
    }

    pub fn of(&self, c: Color) -> u8 {
        match c {
            Color::Blue => self.blue,
            Color::Green => self.green,
        }
    }
}

impl std::fmt::Display for Weights {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "blue {}% / green {}%", self.blue, self.green)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_weights_become_percentages() {
        assert_eq!(
            Weights::from_relative(3.0, 1.0),
            Some(Weights {
                blue: 75,
                green: 25
            })
        );
        assert_eq!(Weights::from_relative(0.0, 0.0), None);
        assert_eq!(
            Weights::from_relative(0.0, 5.0),
            Some(Weights::all(Color::Green))
        );
    }
}
