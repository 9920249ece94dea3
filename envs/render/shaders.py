"""GLSL 3.30 shaders for the one-pass renderer: colour, z-depth and instance id into up to three targets.

Lighting is computed per vertex (two directional lights and ambient, two-sided) and only the targets a
call asks for are written, because on llvmpipe every fragment-shader instruction is paid per pixel.
Textures are the layers of one array texture; each vertex carries its layer and instance id.

>>> "out_id" in fragment(("rgb", "semantic")), "texture(" in fragment(("depth",))
(True, False)
"""

from __future__ import annotations

from collections.abc import Sequence

KINDS = ("rgb", "depth", "semantic")

VERTEX = """
#version 330
uniform mat4 u_view_proj;
uniform mat4 u_view;
uniform vec3 u_cam_pos;
uniform vec3 u_key_dir;
uniform vec3 u_fill_dir;
uniform vec3 u_light;  // (ambient, key, fill) intensities
in vec3 in_pos;
in vec3 in_normal;
in vec4 in_color;
in vec2 in_uv;
in float in_layer;
in int in_instance;
out vec3 v_color;
out vec2 v_uv;
flat out float v_layer;
flat out int v_instance;
out float v_depth;
void main() {
    vec4 w = vec4(in_pos, 1.0);
    gl_Position = u_view_proj * w;
    // z-depth is affine in world space, so perspective-correct interpolation keeps it exact.
    v_depth = -(u_view * w).z;
    vec3 n = in_normal;
    float len2 = dot(n, n);
    n = len2 > 1e-12 ? n * inversesqrt(len2) : vec3(0.0);
    // Two-sided lighting: scene meshes do not agree on winding, so face the normal to the viewer.
    if (dot(n, u_cam_pos - in_pos) < 0.0) {
        n = -n;
    }
    float light = u_light.x + u_light.y * max(dot(n, u_key_dir), 0.0) + u_light.z * max(dot(n, u_fill_dir), 0.0);
    v_color = in_color.rgb * light;
    v_uv = in_uv;
    v_layer = in_layer;
    v_instance = in_instance;
}
"""

_OUTPUTS = {
    "rgb": ("out vec4 out_color;", "out_color = vec4(min(v_color * texture(u_tex, vec3(v_uv, v_layer)).rgb, vec3(1.0)), 1.0);"),
    "depth": ("out float out_depth;", "out_depth = v_depth;"),
    "semantic": ("out int out_id;", "out_id = v_instance;"),
}


def fragment(kinds: Sequence[str]) -> str:
    """Fragment shader writing ``kinds`` (a subset of :data:`KINDS`, in that order) to locations 0, 1, ..."""
    bad = [k for k in kinds if k not in KINDS]
    if bad or not kinds:
        raise ValueError(f"fragment outputs: expected a non-empty subset of {KINDS}, got {tuple(kinds)}")
    decl = [f"layout(location = {i}) {_OUTPUTS[k][0]}" for i, k in enumerate(kinds)]
    body = [_OUTPUTS[k][1] for k in kinds]
    return "\n".join([
        "#version 330",
        "uniform sampler2DArray u_tex;",
        "in vec3 v_color;",
        "in vec2 v_uv;",
        "flat in float v_layer;",
        "flat in int v_instance;",
        "in float v_depth;",
        *decl,
        "void main() {",
        *body,
        "}",
    ])
