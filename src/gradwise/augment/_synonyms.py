"""gradwise's built-in English synonym table, keyed by word, part of speech and sense (for EDA).

Written for gradwise; small on purpose (common words only).  A synonym is only a synonym in one
sense: "close" in "please close the door" is *shut* or *seal*, not *end* (the noun: "the close of
the day") nor *near* (the adjective: "close to home").  So every line of ``_TABLE`` is one sense -
a part of speech, a sense name and the words that can replace one another in that sense - and
:func:`in_context` picks the sense of a word where it stands:

1. a tiny rule-based part-of-speech guess from its neighbours (after "the/a/his" a noun, or an
   adjective when an open-class word follows; after "to/will/can/please/we" a verb; after "is/very"
   an adjective; a sentence that starts with it and goes on with "the/it" an imperative verb);
2. among that part of speech's senses, the one whose cue words occur in the sentence ("door" for
   *shut*, "meeting" for *end*); a sense marked as the default when no cue decides; otherwise none.

When the guess or the sense is unsure, the word gets no synonym: a wrong one would be label noise,
a skipped one only a smaller edit.  Lines with a single word list a sense with no good synonym
("bank" of money), so that its cues can keep the other sense (*shore*) out.  WordNet's data cannot be
pip-installed, hence this offline table; ``synonyms="wordnet"`` (NLTK) is there for broader coverage.
"""

from __future__ import annotations

import string
from collections.abc import Sequence
from dataclasses import dataclass

# One sense a line:  POS SENSE[*]: WORD WORD ... [> WORD ...] [| CUE CUE ...]
# The words before ">" replace one another in this sense; those after it are only replacements (so that
# "close > end" gives "close" the synonym "end" without giving "end" this sense of "close").
# POS is adj, verb, noun, adv or prep; ``*`` marks the sense used when a word has several senses of
# that part of speech and no cue word decides.  Cues are singular, lowercase; any word of the
# sentence (a trailing "s" dropped) counts.
_TABLE = """
adj big: big large huge enormous giant vast
adj small: small tiny compact
adj fast: fast quick rapid speedy swift
adv fast: fast > quickly rapidly
adj slow: slow sluggish unhurried leisurely
adj good: good fine nice excellent
adj bad: bad awful terrible lousy dreadful horrible atrocious
adj poor.quality: poor > bad | quality performance health result grade condition service choice work decision sight \
    visibility harvest
adj poor.needy: poor needy impoverished broke | family people country money kid child neighborhood neighbourhood \
    village villager farmer household
adj happy: happy glad cheerful joyful pleased content
adj sad: sad unhappy sorrowful miserable
adj angry: angry mad furious annoyed irritated
adj afraid: afraid scared frightened fearful
adj brave: brave bold courageous fearless
adj smart: smart clever intelligent bright brilliant | student kid child idea mind girl boy pupil person \
    answer engineer scientist suggestion
adj stupid: stupid dumb foolish silly
adj easy: easy simple effortless straightforward
adj hard.difficult*: hard difficult tough challenging demanding | question problem test exam task job work \
    decision time choice puzzle math exercise
adj hard.solid: hard solid firm rigid | rock surface floor ground wood shell candy bread metal stone ice bed seat
adv hard: hard
adj beautiful: beautiful pretty lovely attractive gorgeous
adj ugly: ugly unattractive hideous unsightly
adj old: old aged elderly ancient
adj new: new fresh novel recent modern
adj young: young youthful juvenile
adj rich: rich wealthy affluent prosperous
adj strong: strong powerful sturdy robust mighty
adj weak: weak feeble frail fragile
adj clean: clean tidy neat spotless
adj dirty: dirty filthy messy grimy
adj quiet: quiet silent peaceful
adj loud: loud noisy deafening
adj hot: hot warm heated burning
adj cold: cold chilly cool freezing icy
adj wet: wet damp moist soaked
adj dry: dry arid parched
adj important: important significant crucial essential vital key
noun key: key
adj strange: strange odd weird unusual peculiar bizarre
adj common: common ordinary usual typical normal regular
adj rare: rare uncommon scarce
adj correct: correct accurate exact right true | answer way choice decision question time thing place person \
    guess wrong moment direction track idea call solution result spelling size word number statement story
adj right.side: right | hand side turn left arm leg foot eye ear lane corner wing shoulder knee field column \
    margin bank
noun right.entitlement: right entitlement privilege prerogative | vote voting free freedom speech law human legal \
    citizen claim equal privacy women worker protest silent remain constitution property
noun right.side: right | left turn side keep drive sit sat corner far hand
adv right: right
adj false: false wrong incorrect mistaken
adj whole: whole entire complete total
adj empty: empty vacant hollow bare
adj close.near: close near nearby adjacent | to by home house station river school shop distance beach city centre \
    center airport border town village
adj close.intimate: close intimate dear | friend relationship relative bond tie cousin mother father sister \
    brother friendship contact family
adj close.narrow: close > narrow tight | game race call match contest result vote finish election fight second margin \
    score
verb close.shut*: close shut seal | door window lid eye mouth gate drawer box curtain book envelope jar bottle \
    laptop tab
verb close.end: close > end conclude finish | meeting session deal speech ceremony season event discussion debate \
    conference account program programme sale auction
noun close: close > end conclusion finish
adj far: far distant remote faraway
adj high: high tall lofty elevated
adj wide: wide broad spacious
adj narrow: narrow tight confined | road path street bridge gap corridor passage alley lane
adj thin.slim: thin slim slender lean | person man woman girl boy body leg arm figure model face waist
adj thin.layer: thin | layer paper ice slice line sheet wire crust air soup coat
adj thick: thick dense | fog forest smoke crowd jungle cloud mist
adj heavy.weight: heavy weighty hefty | box bag load weight suitcase lift carry rock metal object luggage
adj heavy.intense: heavy > intense | rain traffic snow smoker drinker fighting loss storm
adj light.weight: light lightweight | bag box load weight heavy carry suitcase feather jacket lift pack backpack \
    luggage laptop material fabric shoe boot aircraft
adj light.bright: light > bright luminous | room sunny morning window sky kitchen airy space apartment
adj light.pale: light > pale | blue green brown red pink yellow grey gray purple colour color skin shade tone
adj light.gentle: light > gentle mild slight | rain breeze wind snow touch exercise workout drizzle shower
noun light.lamp: light lamp | turn off switch bulb ceiling bedroom flicker flickered flickering bedside desk
noun light.illumination: light illumination brightness radiance | sun sunlight moon moonlight dark darkness shadow \
    candle star dim morning window through daylight ray
verb light: light ignite kindle | fire candle match cigarette stove torch fireplace grill bonfire
adj bright.luminous: bright luminous shining | room sun sunlight light colour color lamp star day sky \
    morning red yellow orange blue green flash smile eye
adj dark.dim*: dark dim gloomy murky shadowy | room night corner street alley sky forest cave cellar basement
adj dark.colour: dark | blue green brown red hair skin eye suit colour color chocolate grey gray
adj funny: funny amusing hilarious comic humorous
adj boring: boring dull tedious monotonous
adj interesting: interesting fascinating intriguing engaging
adj famous: famous renowned celebrated well-known
adj kind: kind gentle caring friendly
noun kind: kind type sort
adj rude: rude impolite insolent disrespectful
adj honest: honest truthful sincere candid
adj safe: safe secure protected
adj dangerous: dangerous risky hazardous unsafe perilous
adj busy: busy occupied engaged
adj tired: tired weary exhausted sleepy fatigued
adj sick: sick ill unwell ailing
adj healthy: healthy fit
verb fit: fit
adj sure: sure certain confident positive
adj possible: possible feasible
adj calm: calm relaxed composed serene
adj eager: eager keen enthusiastic avid
adj careful: careful cautious prudent wary
adj lazy: lazy idle inactive
adj prompt: prompt immediate instant
adj sudden: sudden abrupt unexpected
adj main: main chief primary principal central
adj fair.just: fair just equitable impartial | deal trial price share game play rule treatment judge decision \
    wage chance unfair everyone referee competition fight election hearing
adj fair.blond: fair blond > pale | hair skin complexion haired skinned beard
adj fair.weather: fair > clear sunny | weather sky skies forecast wind condition
noun fair.carnival: fair carnival funfair fete | ride rode county ferris wheel candy cotton summer village fun
noun fair.exhibition: fair exhibition expo | job trade book science career art exhibitor stand booth recruiter \
    industry
adj live: live
adj open: open
verb say: say state tell remark declare mention
verb said: said stated remarked declared mentioned
verb ask: ask inquire question query
verb answer: answer reply respond
verb begin: begin start commence initiate launch
verb end: end finish complete conclude
verb make: make create build produce construct form
verb break: break smash shatter crack fracture
noun break: break > pause rest
verb fix: fix repair mend restore
verb get: get obtain acquire gain receive
verb give: give provide offer supply grant
verb take: take grab seize grasp
verb keep: keep retain hold preserve
verb buy: buy purchase
verb sell: sell vend trade
verb help: help assist aid support
verb try: try attempt endeavor
verb use: use utilize employ apply
verb need: need require
verb want: want desire wish crave
verb like: like enjoy appreciate love
prep like: like
verb hate: hate loathe despise detest dislike
verb think: think believe consider reckon suppose
verb know: know understand realize recognize
verb learn: learn study
verb show: show display reveal demonstrate exhibit
noun show: show
verb see: see notice observe spot view watch
verb look: look glance gaze stare peek
noun look: look
verb hear: hear listen
verb walk: walk stroll stride march wander
noun walk: walk stroll hike
verb run.move: run sprint dash race jog | fast faster quickly mile marathon park track home away dog leg across \
    after around toward towards street hill km kilometre kilometer late bus train catch
verb run.manage: run manage operate direct | business company shop store firm restaurant hotel organization \
    organisation school family farm department country charity office campaign
verb run.execute: run > execute launch | code program programme script test software app command query job \
    experiment simulation benchmark model analysis scan server
noun run.jog: run > jog sprint | morning evening marathon park daily
noun run.streak: run > streak series sequence | winning losing unbeaten luck game win victory straight successive \
    record
verb jump: jump leap hop bound spring
verb go: go move travel proceed head
verb come: come arrive approach reach
verb leave: leave depart exit
verb stay: stay remain linger wait
verb live: live reside dwell
verb die: die perish expire
verb eat: eat consume devour dine
verb drink: drink sip gulp swallow
noun drink: drink beverage
verb sleep: sleep rest nap doze slumber
noun sleep: sleep rest slumber
verb talk: talk speak chat converse
noun talk: talk speech chat
verb shout: shout yell scream holler
verb cry: cry weep sob
verb laugh: laugh giggle chuckle
verb hurt: hurt injure harm wound damage
verb kill: kill slay murder
verb hide: hide conceal cover
verb find: find locate discover uncover
verb choose: choose pick select elect opt
verb change: change alter modify adjust transform
noun change: change
verb grow: grow increase expand rise swell
verb shrink: shrink decrease decline diminish reduce
verb push: push shove press thrust
verb pull: pull drag tug haul
verb throw: throw toss fling hurl pitch
verb catch: catch capture trap snag
verb carry: carry bring bear transport convey
verb send: send dispatch ship transmit
verb open: open unlock unfold
verb win: win triumph succeed prevail
verb lose: lose misplace forfeit
verb fight: fight battle combat struggle clash
noun fight: fight battle clash struggle
verb argue: argue quarrel dispute bicker
verb agree: agree concur consent
verb allow: allow permit let enable
verb stop: stop halt cease quit
verb cut: cut slice chop trim
verb join: join connect link unite attach
verb split: split divide separate part
verb hurry: hurry rush hasten speed
verb worry: worry fret fear
verb wonder: wonder ponder
verb explain: explain clarify
verb describe: describe depict portray characterize
verb destroy: destroy ruin wreck demolish
verb protect: protect guard defend shield
verb attack: attack assault strike raid
noun attack: attack assault raid strike
verb save.rescue: save rescue | life people child victim drowning from world animal patient crew passenger
verb save.keep: save | money cash time energy file document data up for
verb mix: mix blend combine merge
verb shine: shine gleam glow glitter sparkle
verb smell: smell sniff scent
noun smell: smell scent odor
verb touch: touch feel handle
verb climb: climb ascend scale mount
verb fall: fall drop tumble plunge
noun fall: fall
verb call: call phone ring contact
verb write: write compose draft pen
verb read: read peruse scan
verb draw: draw sketch paint
verb sing: sing chant hum
verb play: play perform
noun play: play
verb work: work labor toil
verb cook: cook prepare bake
noun cook: cook chef
verb wash: wash clean rinse scrub
noun house: house home dwelling residence
adv home: home
noun car: car automobile vehicle
noun road: road street avenue path route lane
noun city: city town metropolis
noun country: country nation state land
noun job: job work occupation profession career employment
noun money: money cash funds currency
noun child: child kid youngster youth
noun man: man guy gentleman fellow
noun woman: woman lady female
noun friend: friend pal buddy companion mate
noun boss: boss manager chief supervisor
noun teacher: teacher instructor tutor educator
noun doctor: doctor physician
noun student: student pupil learner
noun problem: problem issue trouble difficulty
noun idea: idea thought notion concept
noun plan: plan scheme strategy proposal
noun answer: answer response reply solution
noun question: question query inquiry
noun mistake: mistake error fault blunder slip
noun chance: chance opportunity occasion
noun danger: danger risk hazard threat peril
noun fear: fear dread terror fright
noun anger: anger rage fury wrath
noun joy: joy delight pleasure happiness glee
noun sadness: sadness sorrow grief misery
noun story: story tale narrative
noun picture.image*: picture image photo photograph
noun picture.film: picture movie film | cinema theater theatre director actor actress oscar studio motion screen
noun book: book volume novel
noun shop: shop store market
noun food: food meal dish cuisine
noun gift: gift present
noun trip: trip journey voyage excursion tour
noun end: end finish conclusion
noun start: start beginning onset outset
noun part: part piece portion section segment
noun group: group team crew band
noun size: size dimension magnitude extent
noun speed: speed pace velocity rate
noun bank.money: bank | money account loan deposit deposited cash saving credit teller withdraw interest robbed \
    robbery manager mortgage branch card transfer central
noun bank.river: bank shore riverbank | river stream lake water canal grassy muddy fishing flood sat steep boat \
    along fish
adv slowly: slowly gradually
adv often: often frequently regularly repeatedly
adv sometimes: sometimes occasionally
adv always: always constantly forever
adv quickly: quickly rapidly swiftly speedily
adv quietly: quietly silently softly
adv really: really truly genuinely
adv very: very extremely highly
adv almost: almost nearly practically virtually
adv maybe: maybe perhaps possibly
adv also: also additionally
adv however: however nevertheless nonetheless
adj enough: enough sufficient adequate ample
adj many: many numerous several countless
adj great: great wonderful fantastic terrific superb
""".replace("\\\n", " ").strip()

STOPWORDS = frozenset("""
a about above after again against all am an and any are as at be because been before
being below between both but by can could did do does doing down during each few for
from further had has have having he her here hers herself him himself his how i if in
into is it its itself just me more most my myself no nor not now of off on once only or
other our ours ourselves out over own same she should so some such than that the their
theirs them themselves then there these they this those through to too under until up
very was we were what when where which while who whom why will with would you your
yours yourself yourselves
""".split())

#: Words after which a noun (or, when an open-class word follows, an adjective) comes.
DETERMINERS = frozenset("""a an the this that these those my your his her its our their some any every each no
another either neither much several what which whose""".split())
#: Prepositions (a noun phrase follows, as after a determiner).
PREPOSITIONS = frozenset("""about above across after against along among around at before behind below beneath
beside between beyond by during except for from in inside into near of off on onto outside over past since through
throughout toward towards under underneath upon with within without""".split())
#: Words after which a verb comes ("to close", "will close", "please close", "we close", "don't close").
BEFORE_VERB = frozenset("""to will would can could shall should may might must do does did please let's i you we
they he she it don't doesn't didn't won't can't cannot shouldn't wouldn't couldn't mustn't never not""".split())
#: Words after which an adjective (or a participle) comes ("is close", "very light").
BEFORE_ADJECTIVE = frozenset("""is are was were be been being am seem seems seemed look looks looked feel feels felt
become becomes became remain remains remained stay stays stayed very so too quite rather really extremely fairly
more most less least""".split())
#: Object pronouns: "Close it" is an imperative.
OBJECT_PRONOUNS = frozenset("me him her us them it you".split())
_SENTENCE_END = tuple(".!?;:")


@dataclass(frozen=True)
class Sense:
    """One sense of a word: its part of speech, the sense's name, its synonyms and the cue words that select it."""

    pos: str
    sense: str
    synonyms: tuple[str, ...]
    cues: frozenset[str]
    default: bool = False


def _parse() -> dict[str, list[Sense]]:
    table: dict[str, list[Sense]] = {}
    for line in _TABLE.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        head, _, rest = line.partition(":")
        words_part, _, cue_part = rest.partition("|")
        pos, sense = head.split()
        default = sense.endswith("*")
        sources, _, extra = words_part.partition(">")
        words, more = sources.split(), extra.split()
        cues = frozenset(cue_part.split())
        for w in words:
            table.setdefault(w, []).append(Sense(pos, sense.rstrip("*"), tuple(v for v in words + more if v != w),
                                                 cues, default))
    return table


#: word -> its senses (part of speech, sense, synonyms, cues).
WORD_SENSES: dict[str, list[Sense]] = _parse()
#: The table keyed ``(word, part_of_speech, sense)`` -> synonyms in that sense.
SENSES: dict[tuple[str, str, str], tuple[str, ...]] = {
    (w, s.pos, s.sense): s.synonyms for w, senses in WORD_SENSES.items() for s in senses}
#: Every synonym of a word in any sense (context-free; what ``synonyms=dict`` users and older code read).
SYNONYMS: dict[str, tuple[str, ...]] = {
    w: tuple(sorted({v for s in senses for v in s.synonyms})) for w, senses in WORD_SENSES.items()
    if any(s.synonyms for s in senses)}


def _norm(token: str) -> str:
    return token.strip(string.punctuation).lower()


def guess_pos(words: Sequence[str], i: int) -> list[str]:
    """Parts of speech the word at ``i`` likely is, most likely first ([] when the context says nothing).

    A dozen rules on the neighbouring words, no statistics: enough to tell "please *close* the door"
    (verb) from "the *close* of the day" (noun) and "*close* to home" after "is" (adjective).
    """
    token = words[i]
    start = i == 0 or words[i - 1].endswith(_SENTENCE_END)
    prev = None if start else _norm(words[i - 1])
    ends_phrase = token.endswith((*_SENTENCE_END, ","))
    nxt = _norm(words[i + 1]) if i + 1 < len(words) and not ends_phrase else None
    next_open = bool(nxt) and nxt not in STOPWORDS and nxt not in DETERMINERS and nxt not in PREPOSITIONS \
        and nxt not in BEFORE_ADJECTIVE and nxt not in BEFORE_VERB
    if prev in ("not", "never") and i >= 2 and _norm(words[i - 2]) in BEFORE_ADJECTIVE:
        return ["adj", "verb"]                              # "is not close"
    if prev is not None:
        if prev in BEFORE_VERB:
            return ["verb", "noun"] if prev == "to" else ["verb"]
        if prev in DETERMINERS or prev in PREPOSITIONS:
            return ["adj", "noun"] if next_open else ["noun"]
        if prev in BEFORE_ADJECTIVE:
            return ["adj", "verb"]
    elif nxt is not None and (nxt in DETERMINERS or nxt in OBJECT_PRONOUNS):
        return ["verb"]                                     # "Close the door", "Light it"
    if nxt is not None and nxt in BEFORE_ADJECTIVE | {"will", "would", "can", "could", "should", "must", "may"}:
        return ["noun"]                                     # the head of a subject: "the job fair was ..."
    if next_open:
        return ["adj", "noun"]                              # before a noun: "fair hair", "light rain"
    return []


def resolve(words: Sequence[str], i: int) -> Sense | None:
    """The sense of the word at ``i`` in this sentence, or None when the table or the context cannot tell."""
    senses = WORD_SENSES.get(_norm(words[i]))
    if not senses:
        return None
    kinds = {s.pos for s in senses}
    preferred = guess_pos(words, i)
    if preferred:
        pos = next((p for p in preferred if p in kinds), None)
    else:
        pos = next(iter(kinds)) if len(kinds) == 1 else None   # an unambiguous word needs no context
    if pos is None:
        return None
    options = [s for s in senses if s.pos == pos]
    if len(options) == 1:
        return options[0]
    context = set()
    for j, t in enumerate(words):
        if j != i:
            w = _norm(t)
            context.update((w, w[:-1]) if len(w) > 3 and w.endswith("s") else (w,))
    scores = [len(s.cues & context) for s in options]
    best = max(scores)
    if best > 0 and scores.count(best) == 1:
        return options[scores.index(best)]
    return next((s for s in options if s.default), None)


def in_context(words: Sequence[str], i: int) -> tuple[str, ...]:
    """Synonyms of the word at ``i`` in the sense it has in ``words`` (``()`` when unsure or none)."""
    sense = resolve(words, i)
    return sense.synonyms if sense is not None else ()
