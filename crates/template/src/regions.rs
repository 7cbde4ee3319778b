//! The Azure region names this version knows, to catch a typo in `--location` or
//! `--replication` (a warning with the closest name; an unknown region is not refused, since new
//! regions open).

/// Region names as `az account list-locations` gives them (public cloud, then US Government and
/// China).
pub const KNOWN: &[&str] = &[
    "australiacentral",
    "australiacentral2",
    "australiaeast",
    "australiasoutheast",
    "brazilsouth",
    "brazilsoutheast",
    "canadacentral",
    "canadaeast",
    "centralindia",
    "centralus",
    "centraluseuap",
    "chilecentral",
    "eastasia",
    "eastus",
    "eastus2",
    "eastus2euap",
    "francecentral",
    "francesouth",
    "germanynorth",
    "germanywestcentral",
    "indonesiacentral",
    "israelcentral",
    "italynorth",
    "japaneast",
    "japanwest",
    "jioindiacentral",
    "jioindiawest",
    "koreacentral",
    "koreasouth",
    "malaysiawest",
    "mexicocentral",
    "newzealandnorth",
    "northcentralus",
    "northeurope",
    "norwayeast",
    "norwaywest",
    "polandcentral",
    "qatarcentral",
    "southafricanorth",
    "southafricawest",
    "southcentralus",
    "southeastasia",
    "southindia",
    "spaincentral",
    "swedencentral",
    "swedensouth",
    "switzerlandnorth",
    "switzerlandwest",
    "uaecentral",
    "uaenorth",
    "uksouth",
    "ukwest",
    "westcentralus",
    "westeurope",
    "westindia",
    "westus",
    "westus2",
    "westus3",
    "usgovarizona",
    "usgovtexas",
    "usgovvirginia",
    "usdodcentral",
    "usdodeast",
    "chinaeast",
    "chinaeast2",
    "chinaeast3",
    "chinanorth",
    "chinanorth2",
    "chinanorth3",
];

/// Regions with availability zones, where zone-redundant registries and replications can be
/// created. Written from Microsoft's list "Azure regions with availability zone support"
/// (learn.microsoft.com/azure/reliability/availability-zones-region-support, as of 2025); a
/// region of [`KNOWN`] that is not here has none. New zones open: update both lists together.
pub const WITH_ZONES: &[&str] = &[
    // Americas
    "brazilsouth",
    "canadacentral",
    "centralus",
    "chilecentral",
    "eastus",
    "eastus2",
    "mexicocentral",
    "southcentralus",
    "westus2",
    "westus3",
    "usgovvirginia",
    // Europe
    "francecentral",
    "germanywestcentral",
    "italynorth",
    "northeurope",
    "norwayeast",
    "polandcentral",
    "spaincentral",
    "swedencentral",
    "switzerlandnorth",
    "uksouth",
    "westeurope",
    // Middle East and Africa
    "israelcentral",
    "qatarcentral",
    "uaenorth",
    "southafricanorth",
    // Asia Pacific
    "australiaeast",
    "centralindia",
    "eastasia",
    "indonesiacentral",
    "japaneast",
    "japanwest",
    "koreacentral",
    "malaysiawest",
    "newzealandnorth",
    "southeastasia",
    // China
    "chinanorth3",
];

/// Whether `region` (normalised) has availability zones: None when the region is not known.
pub fn has_zones(region: &str) -> Option<bool> {
    is_known(region).then(|| WITH_ZONES.contains(&region))
}

/// True when `region` (normalised: lower case, no spaces) is a known region.
pub fn is_known(region: &str) -> bool {
    KNOWN.contains(&region)
}

/// The known region closest to `region` by edit distance.
pub fn closest(region: &str) -> &'static str {
    KNOWN
        .iter()
        .copied()
        .min_by_key(|k| distance(region, k))
        .unwrap_or("westeurope")
}

/// Levenshtein distance over bytes.
fn distance(a: &str, b: &str) -> usize {
    let b = b.as_bytes();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.bytes().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != *cb);
            cur.push(sub.min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typos_get_the_closest_region() {
        assert!(is_known("eastus") && !is_known("eastsus"));
        assert_eq!(closest("eastsus"), "eastus");
        assert_eq!(closest("westeurop"), "westeurope");
        assert_eq!(closest("japaneats"), "japaneast");
        assert_eq!(distance("kitten", "sitting"), 3);
    }

    #[test]
    fn every_region_with_zones_is_known() {
        for r in WITH_ZONES {
            assert!(is_known(r), "{r}");
        }
        assert_eq!(has_zones("westeurope"), Some(true));
        assert_eq!(has_zones("westcentralus"), Some(false));
        assert_eq!(has_zones("marsnorth"), None);
    }
}
