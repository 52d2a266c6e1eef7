"""The Jinja environment for C templates."""
import jinja2

from edgeopt.codegen.literals import c_ints, c_string, f32
from edgeopt.resources import resource_dir


def make_environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(resource_dir("templates"))),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=False,
        lstrip_blocks=False,
        autoescape=False,
    )
    env.filters["f32"] = f32
    env.filters["c_ints"] = c_ints
    env.filters["c_string"] = c_string
    return env
