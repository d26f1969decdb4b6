"""Which guides are indexed, and which of them a `Query` is about (routing).

Routing is exact, never fuzzy: a question that names a place and a role gets that guide, or
the country-wide guide for the role as a labelled fallback, or a refusal that says what is
covered. A question that leaves a slot open gets the only guide that fits, or a request to
choose. Nothing here reads Chroma or composes sentences.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .corpus import Guide
from .understand import Query
from .vocab import COUNTRY


@dataclass(frozen=True)
class Target:
    guide: Guide
    asked_place: str | None  # the place the question named, if any
    fallback: bool = False  # the country-wide guide stands in for a city without one
    # No country-wide guide: what this city guide says about the whole country is asked.
    about_country: bool = False


@dataclass(frozen=True)
class Gap:
    """Something asked that no guide covers."""

    kind: str  # "place" | "role" | "role_in_place" | "choose_place" | "choose_role"
    place: str | None = None
    role: str | None = None
    options: tuple[str, ...] = ()  # what the guides do cover instead


@dataclass
class Route:
    targets: list[Target] = field(default_factory=list)
    gaps: list[Gap] = field(default_factory=list)


class Catalogue:
    def __init__(self, guides: list[Guide]) -> None:
        self.guides = sorted(guides, key=lambda g: (g.role, g.is_country_wide, g.place))
        self.by_key = {guide.key: guide for guide in self.guides}
        # Looked up on every question; a scan of a 1,000-guide list would cost more than the
        # rest of routing.
        self._by_slot: dict[tuple[str | None, str | None], list[Guide]] = {}
        for guide in self.guides:
            for slot in ((guide.place, guide.role), (guide.place, None), (None, guide.role), (None, None)):
                self._by_slot.setdefault(slot, []).append(guide)

    def __len__(self) -> int:
        return len(self.guides)

    @property
    def roles(self) -> list[str]:
        return sorted({guide.role for guide in self.guides})

    @property
    def places(self) -> list[str]:
        cities = sorted({guide.city for guide in self.guides if guide.city})
        country = [COUNTRY] if any(g.is_country_wide for g in self.guides) else []
        return cities + country

    def find(self, place: str | None = None, role: str | None = None) -> list[Guide]:
        """Guides for a place (a city, or "Belgium" for country-wide ones) and/or a role."""
        return list(self._by_slot.get((place, role), ()))

    def _country_guide(self, role: str | None) -> Guide | None:
        candidates = [g for g in self.find(COUNTRY, role)]
        return candidates[0] if len(candidates) == 1 else None

    def _resolve(self, place: str | None, role: str | None) -> list[Target] | Gap:
        if place is None:
            candidates = self.find(None, role)
            if len(candidates) == 1:
                return [Target(candidates[0], None)]
            country = self._country_guide(role)
            if country and role:
                return [Target(country, None)]
            if not candidates:
                return Gap("role", role=role, options=tuple(self.roles))
            return Gap("choose_place", role=role,
                       options=tuple(dict.fromkeys(g.place for g in candidates)))
        candidates = self.find(place, role)
        if len(candidates) == 1:
            return [Target(candidates[0], place)]
        if len(candidates) > 1:  # several roles in one place, none named
            return [Target(guide, place) for guide in candidates]
        country = self._country_guide(role) if place != COUNTRY else None
        if country:
            return [Target(country, place, fallback=True)]
        if place == COUNTRY and self.find(None, role):
            return [Target(guide, place, about_country=True) for guide in self.find(None, role)]
        if role and self.find(place, None):
            return Gap("role_in_place", place=place, role=role,
                       options=tuple(g.role for g in self.find(place, None)))
        return Gap("place", place=place, role=role, options=tuple(self.places))

    def route(self, query: Query) -> Route:
        route = Route()
        for place in query.unknown_places:
            route.gaps.append(Gap("place", place=place, options=tuple(self.places)))
        for role in query.unknown_roles:
            route.gaps.append(Gap("role", role=role, options=tuple(self.roles)))
        # A named place or role that no guide covers is never swapped for another one.
        if (query.unknown_places and not query.places) or (query.unknown_roles and not query.roles):
            return route
        for place in query.places or (None,):
            for role in query.roles or (None,):
                resolved = self._resolve(place, role)
                if isinstance(resolved, Gap):
                    route.gaps.append(resolved)
                else:
                    route.targets.extend(t for t in resolved if t not in route.targets)
        return route
