// Build time (Node): the world's land outline as one SVG path, from Natural Earth's 1:110m land
// (world-atlas) projected equirectangular by d3-geo (which cuts polygons at the antimeridian), in
// the map's outline units (map.ts: 1/10 degree, integers). Points that round onto the previous
// one are dropped and rings left with fewer than three are skipped: ~20 KB for the whole world.
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { geoEquirectangular, geoPath } from "d3-geo";
import { feature } from "topojson-client";
import type { GeometryCollection, Topology } from "topojson-specification";
import { UNITS_PER_DEGREE, WORLD } from "./map.ts";

const require = createRequire(import.meta.url);

export function worldOutline(): string {
  const topo = JSON.parse(readFileSync(require.resolve("world-atlas/land-110m.json"), "utf8")) as Topology<{
    land: GeometryCollection;
  }>;
  const land = feature(topo, topo.objects.land);
  const projection = geoEquirectangular()
    .scale((UNITS_PER_DEGREE * 180) / Math.PI)
    .translate([WORLD.width / 2, WORLD.height / 2])
    .precision(0);
  const rings: [number, number][][] = [];
  let ring: [number, number][] = [];
  const add = (x: number, y: number) => {
    const p: [number, number] = [Math.round(x), Math.round(y)];
    const last = ring[ring.length - 1];
    if (!last || last[0] !== p[0] || last[1] !== p[1]) ring.push(p);
  };
  geoPath(projection, {
    beginPath: () => undefined,
    moveTo: (x, y) => {
      ring = [];
      add(x, y);
    },
    lineTo: add,
    closePath: () => {
      if (ring.length >= 3) rings.push(ring);
    },
    arc: () => undefined,
  })(land);
  // Absolute move, then relative lines: the shortest plain path syntax. One ring per line.
  return rings
    .map((r) => {
      let [px, py] = r[0]!;
      const steps = r.slice(1).map(([x, y]) => {
        const s = `${x - px} ${y - py}`;
        [px, py] = [x, y];
        return s;
      });
      return `M${r[0]![0]} ${r[0]![1]}l${steps.join(" ")}z`.replace(/ -/g, "-");
    })
    .join("\n");
}
