/**
 * Where a client is, as steering uses it: country and continent codes as Cloudflare reports them
 * (request.cf, CF-IPCountry) and the great-circle distance for proximity steering.
 */

/** ISO 3166-1 alpha-2 (249 assigned codes), plus Cloudflare's XK (Kosovo) and T1 (Tor). */
export const COUNTRY_CODES: ReadonlySet<string> = new Set(
  (
    "AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS BT BV " +
    "BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM DO DZ EC EE EG EH ER ES " +
    "ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY HK HM HN HR HT HU ID IE " +
    "IL IM IN IO IQ IR IS IT JE JM JO JP KE KG KH KI KM KN KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY " +
    "MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT MU MV MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU " +
    "NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW PY QA RE RO RS RU RW SA SB SC SD SE SG SH SI SJ SK SL SM " +
    "SN SO SR SS ST SV SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG UM US UY UZ VA VC VE " +
    "VG VI VN VU WF WS YE YT ZA ZM ZW XK T1"
  ).split(" "),
);

/** Cloudflare's continent codes (request.cf.continent, CF-IPContinent). */
export const CONTINENT_CODES: ReadonlySet<string> = new Set(["AF", "AN", "AS", "EU", "NA", "OC", "SA"]);

const EARTH_RADIUS_KM = 6371.0088;
const RADIANS = Math.PI / 180;

/** Haversine distance: accurate to about 0.5%, far finer than a pool's placement needs. */
export function greatCircleKm(lat1: number, lon1: number, lat2: number, lon2: number): number {
  const dLat = (lat2 - lat1) * RADIANS;
  const dLon = (lon2 - lon1) * RADIANS;
  const h = Math.sin(dLat / 2) ** 2 + Math.cos(lat1 * RADIANS) * Math.cos(lat2 * RADIANS) * Math.sin(dLon / 2) ** 2;
  return 2 * EARTH_RADIUS_KM * Math.asin(Math.min(1, Math.sqrt(h)));
}

/** Header names a trusted proxy in front reports the client's location in (Cloudflare's names). */
export interface LocationHeaders {
  readonly country: string;
  readonly continent: string;
  readonly latitude: string;
  readonly longitude: string;
}

export const DEFAULT_LOCATION_HEADERS: LocationHeaders = {
  country: "cf-ipcountry",
  continent: "cf-ipcontinent",
  latitude: "cf-iplatitude",
  longitude: "cf-iplongitude",
};

/** The location those headers carry; anything malformed is left out, never guessed. */
export function locationFromHeaders(headers: Headers, names: LocationHeaders) {
  return locationOf(
    headers.get(names.country),
    headers.get(names.continent),
    headers.get(names.latitude),
    headers.get(names.longitude),
  );
}

/** From request.cf (Workers) or header values: codes upper-cased, coordinates range-checked. */
export function locationOf(
  country: unknown,
  continent: unknown,
  latitude: unknown,
  longitude: unknown,
): { country?: string; continent?: string; latitude?: number; longitude?: number } {
  const location: { country?: string; continent?: string; latitude?: number; longitude?: number } = {};
  const countryCode = typeof country === "string" ? country.toUpperCase() : undefined;
  if (countryCode && COUNTRY_CODES.has(countryCode)) location.country = countryCode;
  const continentCode = typeof continent === "string" ? continent.toUpperCase() : undefined;
  if (continentCode && CONTINENT_CODES.has(continentCode)) location.continent = continentCode;
  const lat = coordinate(latitude, 90);
  const lon = coordinate(longitude, 180);
  if (lat !== undefined && lon !== undefined) {
    location.latitude = lat;
    location.longitude = lon;
  }
  return location;
}

function coordinate(value: unknown, limit: number): number | undefined {
  const n = typeof value === "number" ? value : typeof value === "string" && value.trim() !== "" ? Number(value) : NaN;
  return Number.isFinite(n) && Math.abs(n) <= limit ? n : undefined;
}
