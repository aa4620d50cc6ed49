"""Rules for child sexual abuse material: any sexualisation of a minor, unless the
sentence is child-safety work, and asking for the material itself."""

from __future__ import annotations

from offcoder.ai.safety.patterns import Rule, asking, has, rule, sentence
from offcoder.ai.safety.verdict import Category

_MINOR = (
    r"(?:child(?:ren)?(?![- ](?:process\w*|nodes?|elements?|components?|threads?|tasks?|themes?|"
    r"class\w*|tables?|rows?|objects?|windows?|widgets?|views?|routes?|items?|keys?|entit\w+|"
    r"records?|accounts?|spans?|pids?|tabs?))|kids?|minors?(?! (?:version|release|bump|update|"
    r"change|issue|fix|bug|detail|tweak|league))|underage|under-age|pre-?teens?|tweens?|toddlers?|"
    r"infants?|little (?:girls?|boys?)|school ?(?:girls?|boys?)|(?:elementary|primary|middle|"
    r"junior high|high)[- ]school(?:ers?)?|(?:1st|2nd|3rd|[4-9]th|first|second|third|fourth|fifth|"
    r"sixth|seventh|eighth|ninth|tenth) grad(?:e|er)s?|(?:[1-9]|1[0-7])[- ]?(?:years?|"
    r"yrs?)[- ]olds?|(?:[1-9]|1[0-7]) ?yo|aged? (?:[1-9]|1[0-7])|(?:characters?|girls?|boys?|she|"
    r"he|they|both|kids?|protagonists?) (?:is|are|was|were|being) (?:only |just |about |around |"
    r"barely |both )?(?:[1-9]|1[0-7])(?![·\d%:])|(?:you are|you're) (?:only |just )?(?:[1-9]|"
    r"1[0-7])(?![·\d%:])|young (?:girls?|boys?|teens?|child(?:ren)?)|"
    r"teen(?:age|aged)?s?|jailbait|lolita|loli|shota)\b"
)
_SEXUAL = (
    r"(?:sexual\w*|sexy|sext\w*|(?:have|having|had) sex|sex (?:with|story|stories|scenes?|chats?|"
    r"roleplay|acts?|videos?|tapes?|games?)|nudes?|nudity|naked|porn\w*|erotic\w*|lewd\w*|nsfw|"
    r"fetish\w*|orgasm\w*|arous\w*|horny|smut\w*|hentai|steamy|talk(?:ing)? dirty|dirty talk|"
    r"kinky|without (?:any |her |his |their )?clothes|no clothes|unclothed|topless|in (?:her|his|"
    r"their) underwear|(?:naughty|dirty|spicy|x-rated) (?:story|stories|roleplay|rp|chats?|pics|"
    r"photos?|scenes?|texts?|things)|explicit (?:[\w-]++ )?(?:story|stories|fanfic\w*|"
    r"fan ?fiction|content|images?|pictures?|photos?|pics|videos?|scenes?|roleplay|chat|poems?|"
    r"texts?|material|art|drawings?)|intimate (?:photos?|images?|pics|videos?|acts?|scenes?)|"
    r"seduc\w*|undress\w*|molest\w*|grop(?:e|es|ing))\b"
)
# Child-safety work: banning, detecting, reporting, moderating, educating.
_CHILD_SAFETY = (
    r"ban\w*|prohibit\w*|forbid\w*|polic(?:y|ies)|report\w*|detect\w*|moderat\w*|block\w*|"
    r"prevent\w*|protect\w*|flag\w*|remov\w*|takedown|classif\w*|hash\w*|photodna|ncmec|"
    r"cybertip\w*|safeguard\w*|law enforcement|police|grooming|educat\w*|sex[- ]ed\w*|curriculum|"
    r"puberty|awareness|survivors?|therap\w*|counsel\w*|trust[- ]and[- ]safety|coppa|"
    r"age[- ]verif\w*|health|research|survey|statistics|filter\w*|refus\w*|"
    r"age[- ]?(?:gat|check|restrict)\w*|parental|restrict\w*|safe ?search|appropriate|"
    r"inappropriate|worried|concerned|parenting|talk (?:to|with) (?:him|her|them|my \w+) about"
)
_ABUSE_MATERIAL = (
    r"(?:csam|child (?:sexual )?(?:abuse|exploitation) (?:material|images?|videos?|content|photos?|"
    r"pics)|child porn\w*|kiddie porn\w*|pedo(?:phile)? (?:porn\w*|content|material|videos?|pics|"
    r"images?|links?)|jailbait (?:pics|photos?|videos?|images?)|cp (?:links?|videos?|pics?|"
    r"folders?|collections?|content|material|sites?|groups?|channels?|archives?|packs?|stash)|"
    # "cp" alone is also the copy command; as the last word of a request to find or get it
    # ("where can I find CP", "links to cp pls"), it is the material
    r"cp(?= ?(?:[.?!]|$)| (?:pls|please|online|on (?:tor|telegram|discord|the dark ?web))\b))\b"
)


RULES: tuple[Rule, ...] = (
    # --- csam: any sexualisation of a minor, unless the sentence is child-safety work
    rule(Category.csam, "sexual-minor", sentence(has(_SEXUAL, _MINOR, unless=_CHILD_SAFETY))),
    rule(
        Category.csam,
        "minor-partner",
        sentence(
            has(
                _MINOR,
                r"(?:your|my) (?:[\w-]+ ){0,3}?(?:girlfriend|boyfriend|lover|wife|husband|date)\b",
                r"(?:roleplay|role-play|rp|pretend|act|play)\w*",
                unless=_CHILD_SAFETY,
            )
        ),
    ),
    rule(
        Category.csam,
        "seek-material",
        asking(
            _ABUSE_MATERIAL,
            r"(?:download|find|get|buy|access|watch|view|share|trade|sell|send|collect|links? to)",
        ),
    ),
)
