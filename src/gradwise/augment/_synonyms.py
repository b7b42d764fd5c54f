"""gradwise's built-in English synonym table and stopword list (for EDA text augmentation).

Written for gradwise; small on purpose (common words only).  Each line of ``_GROUPS``
is a group of words that can replace one another in most contexts; a word that appears
in several groups gets the union of their members.  For broader coverage pass a bigger
table, a callable, or ``synonyms="wordnet"`` (NLTK) to the text transforms.
"""

from __future__ import annotations

_GROUPS = """
big large huge enormous giant vast
small little tiny minor compact
fast quick rapid speedy swift
slow sluggish unhurried leisurely
good fine great nice excellent
bad poor awful terrible lousy
happy glad cheerful joyful pleased content
sad unhappy sorrowful gloomy miserable
angry mad furious annoyed irritated
afraid scared frightened fearful
brave bold courageous fearless
smart clever intelligent bright brilliant
stupid dumb foolish silly
easy simple effortless straightforward
hard difficult tough challenging demanding
beautiful pretty lovely attractive gorgeous
ugly unattractive hideous unsightly
old aged elderly ancient
new fresh novel recent modern
young youthful juvenile
rich wealthy affluent prosperous
poor needy impoverished broke
strong powerful sturdy robust mighty
weak feeble frail fragile
clean tidy neat spotless
dirty filthy messy grimy
quiet silent calm peaceful still
loud noisy deafening
hot warm heated burning
cold chilly cool freezing icy
wet damp moist soaked
dry arid parched
important significant crucial essential vital key
strange odd weird unusual peculiar bizarre
common ordinary usual typical normal regular
rare uncommon scarce unusual
true correct accurate right exact
false wrong incorrect mistaken
whole entire complete full total
empty vacant hollow bare
near close nearby adjacent
far distant remote faraway
high tall lofty elevated
low short
wide broad spacious
narrow thin slim slender
thick dense heavy
light bright luminous
dark dim gloomy murky shadowy
funny amusing hilarious comic humorous
boring dull tedious monotonous
interesting fascinating intriguing engaging
famous renowned celebrated well-known
kind nice gentle caring friendly
rude impolite insolent disrespectful
honest truthful sincere candid
safe secure protected
dangerous risky hazardous unsafe perilous
busy occupied engaged
tired weary exhausted sleepy fatigued
sick ill unwell ailing
healthy fit well sound
sure certain confident positive
possible feasible likely
calm relaxed composed serene
eager keen enthusiastic avid
careful cautious prudent wary
lazy idle inactive sluggish
quick prompt immediate instant
sudden abrupt unexpected
main chief primary principal central
whole total overall
said stated remarked declared mentioned
say state tell remark declare mention
ask inquire question query
answer reply respond
begin start commence initiate launch
end finish complete conclude stop
make create build produce construct form
break smash shatter crack fracture
fix repair mend restore
get obtain acquire gain receive
give provide offer supply grant
take grab seize grasp
keep retain hold preserve
buy purchase acquire
sell vend trade
help assist aid support
try attempt endeavor
use utilize employ apply
need require want
want desire wish crave
like enjoy appreciate love
hate loathe despise detest dislike
think believe consider reckon suppose
know understand realize recognize
learn study discover find
show display reveal demonstrate exhibit
see notice observe spot view watch
look glance gaze stare peek
hear listen
walk stroll stride march wander
run sprint dash race jog
jump leap hop bound spring
go move travel proceed head
come arrive approach reach
leave depart exit go
stay remain linger wait
live reside dwell
die perish expire
eat consume devour dine
drink sip gulp swallow
sleep rest nap doze slumber
talk speak chat converse
shout yell scream cry holler
laugh giggle chuckle
cry weep sob
hurt injure harm wound damage
kill slay murder
hide conceal cover
find locate discover uncover
choose pick select elect opt
change alter modify adjust transform
grow increase expand rise swell
shrink decrease decline diminish reduce
push shove press thrust
pull drag tug haul
throw toss fling hurl pitch
catch capture trap snag
carry bring bear transport convey
send dispatch ship transmit
open unlock unfold
close shut seal
win triumph succeed prevail
lose misplace forfeit
fight battle combat struggle clash
argue quarrel dispute bicker
agree concur consent
allow permit let enable
stop halt cease quit
cut slice chop trim
join connect link unite attach
split divide separate part
hurry rush hasten speed
worry fret fear
wonder ponder consider
explain clarify describe
describe depict portray characterize
destroy ruin wreck demolish
protect guard defend shield
attack assault strike raid
save rescue preserve
mix blend combine merge
shine gleam glow glitter sparkle
smell sniff scent
touch feel handle
climb ascend scale mount
fall drop tumble plunge
call phone ring contact
write compose draft pen
read peruse scan
draw sketch paint
sing chant hum
play perform
work labor toil
cook prepare bake
wash clean rinse scrub
house home dwelling residence
car automobile vehicle
road street avenue path route lane
city town metropolis
country nation state land
job work occupation profession career employment
money cash funds currency
child kid youngster youth
man guy gentleman fellow
woman lady female
friend pal buddy companion mate
boss manager chief supervisor
teacher instructor tutor educator
doctor physician
student pupil learner
problem issue trouble difficulty
idea thought notion concept
plan scheme strategy proposal
answer response reply solution
question query inquiry
mistake error fault blunder slip
chance opportunity occasion
danger risk hazard threat peril
fear dread terror fright
anger rage fury wrath
joy delight pleasure happiness glee
sadness sorrow grief misery
story tale narrative account
picture image photo photograph
movie film picture
book volume novel
shop store market
food meal dish cuisine
gift present
trip journey voyage excursion tour
end finish conclusion close
start beginning onset outset
part piece portion section segment
group team crew band
size dimension magnitude extent
speed pace velocity rate
fast quickly
slowly gradually
often frequently regularly repeatedly
sometimes occasionally
always constantly forever
quickly rapidly swiftly speedily
quietly silently softly
really truly genuinely
very extremely highly really
almost nearly practically virtually
maybe perhaps possibly
also too additionally
however nevertheless nonetheless
enough sufficient adequate ample
many numerous several countless
few some several
great wonderful fantastic terrific superb
awful dreadful horrible atrocious
""".strip()

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


def _build() -> dict[str, tuple[str, ...]]:
    table: dict[str, set[str]] = {}
    for line in _GROUPS.splitlines():
        words = line.split()
        for w in words:
            table.setdefault(w, set()).update(v for v in words if v != w)
    return {w: tuple(sorted(s)) for w, s in table.items()}


SYNONYMS: dict[str, tuple[str, ...]] = _build()
