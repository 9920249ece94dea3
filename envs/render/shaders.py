"""GLSL 3.30 shaders for the one-pass renderer: colour, z-depth and instance id into three targets."""

VERTEX = """
#version 330
uniform mat4 u_view_proj;
uniform mat4 u_view;
in vec3 in_pos;
in vec3 in_normal;
in vec4 in_color;
in vec2 in_uv;
out vec3 v_world;
out vec3 v_normal;
out vec4 v_color;
out vec2 v_uv;
out float v_depth;
void main() {
    vec4 w = vec4(in_pos, 1.0);
    gl_Position = u_view_proj * w;
    // z-depth is affine in world space, so perspective-correct interpolation keeps it exact.
    v_depth = -(u_view * w).z;
    v_world = in_pos;
    v_normal = in_normal;
    v_color = in_color;
    v_uv = in_uv;
}
"""

FRAGMENT = """
#version 330
uniform sampler2D u_tex;
uniform int u_instance_id;
uniform vec3 u_cam_pos;
uniform vec3 u_key_dir;
uniform vec3 u_fill_dir;
uniform vec3 u_light;  // (ambient, key, fill) intensities
in vec3 v_world;
in vec3 v_normal;
in vec4 v_color;
in vec2 v_uv;
in float v_depth;
layout(location = 0) out vec4 out_color;
layout(location = 1) out float out_depth;
layout(location = 2) out int out_id;
void main() {
    vec3 n = v_normal;
    if (dot(n, n) < 1e-12) {
        n = cross(dFdx(v_world), dFdy(v_world));  // no usable vertex normal: flat shading
    }
    n = normalize(n);
    // Two-sided lighting: scene meshes do not agree on winding, so face the normal to the viewer.
    if (dot(n, u_cam_pos - v_world) < 0.0) {
        n = -n;
    }
    float light = u_light.x + u_light.y * max(dot(n, u_key_dir), 0.0) + u_light.z * max(dot(n, u_fill_dir), 0.0);
    vec3 albedo = v_color.rgb * texture(u_tex, v_uv).rgb;
    out_color = vec4(min(albedo * light, vec3(1.0)), 1.0);
    out_depth = v_depth;
    out_id = u_instance_id;
}
"""
