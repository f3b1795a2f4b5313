//! Send it: GitHub (octocrab) and GitLab (reqwest). Only sends what `report` rendered.
pub mod gitlab;
