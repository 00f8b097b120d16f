"""Region names: the list of Spheron's docs, and a warning for a name outside it.

The docs (rent-gpu/supports, "Supported Regions") list the names providers may claim, and say
(rent-gpu/icl, "Placement Profiles") that no provider bids on an unlisted region, so the create
finds no lease. The list may lag (the ICL page's own example writes `eu-west` and `ap-south`,
which the list lacks), so an unlisted name is a warning naming the list, never an error
(docs/spheron-protocol.md).
"""

from __future__ import annotations

from .context import RuleContext
from .names import did_you_mean

REGIONS: tuple[str, ...] = (
    "afghan", "albania", "algeria", "andorra", "angola", "antigua-b", "argentina", "armenia",
    "australia", "austria", "azerbaijan", "bahamas", "bahrain", "bangladesh", "barbados", "belarus",
    "belgium", "belize", "benin", "bhutan", "bolivia", "bosnia-h", "botswana", "brazil", "brunei",
    "bulgaria", "burkina-f", "burundi", "cabo-verde", "cambodia", "cameroon", "canada", "cent-afr",
    "chad", "chile", "china", "colombia", "comoros", "congo-dr", "congo-r", "costa-rica", "croatia",
    "cuba", "cyprus", "czech-rep", "denmark", "djibouti", "dominica", "dominican-r", "ecuador",
    "egypt", "el-salvador", "equatorial-g", "eritrea", "estonia", "eswatini", "ethiopia", "fiji",
    "finland", "france", "gabon", "gambia", "georgia", "germany", "ghana", "greece", "grenada",
    "guatemala", "guinea", "guinea-b", "guyana", "haiti", "honduras", "hungary", "iceland", "india",
    "indonesia", "iran", "iraq", "ireland", "israel", "italy", "jamaica", "japan", "jordan",
    "kazakhstan", "kenya", "kiribati", "korea-south", "kosovo", "kuwait", "kyrgyzstan", "laos",
    "latvia", "lebanon", "lesotho", "liberia", "libya", "liechtenstein", "lithuania", "luxembourg",
    "madagascar", "malawi", "malaysia", "maldives", "mali", "malta", "marshall-i", "mauritania",
    "mauritius", "mexico", "micronesia", "moldova", "monaco", "mongolia", "montenegro", "morocco",
    "mozambique", "myanmar", "namibia", "nauru", "nepal", "netherlands", "new-zealand", "nicaragua",
    "niger", "nigeria", "north-macedon", "norway", "oman", "pakistan", "palau", "panama",
    "papua-n-g", "paraguay", "peru", "philippines", "poland", "portugal", "qatar", "romania",
    "russia", "rwanda", "saint-k-n", "saint-lucia", "saint-v-g", "samoa", "san-marino",
    "sao-tome-p", "saudi-arabia", "senegal", "serbia", "seychelles", "sierra-leone", "singapore",
    "slovakia", "slovenia", "solomon-i", "somalia", "south-africa", "south-sudan", "spain",
    "sri-lanka", "sudan", "suriname", "sweden", "switzerland", "syria", "taiwan", "tajikistan",
    "tanzania", "thailand", "timor-leste", "togo", "tonga", "trinidad-t", "tunisia", "turkey",
    "turkmenistan", "tuvalu", "uganda", "ukraine", "uae", "uk", "us-east", "us-west", "us-central",
    "uruguay", "uzbekistan", "vanuatu", "vatican-c", "venezuela", "vietnam", "yemen", "zambia",
    "zimbabwe"
)
SOURCE = "the region list of Spheron's docs (rent-gpu/supports, Supported Regions)"


def placement_regions(context: RuleContext) -> None:
    known = set(REGIONS)
    for name, placement in context.doc.profiles.placement.items():
        attributes = placement.attributes
        if attributes is None:
            continue
        for key in ("region", "exclude_region", "region_exclude"):
            value = getattr(attributes, key)
            for region in [part.strip() for part in (value or "").split(";") if part.strip()]:
                if region in known:
                    continue
                context.warn(("profiles", "placement", name, "attributes", key), region, f"a region not in {SOURCE}",
                             did_you_mean(region, REGIONS) + " The docs say no provider bids on an unlisted region",
                             "icl.region", noun="region")


RULES = [placement_regions]
