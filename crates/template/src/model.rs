//! A read-only view of a template: where its resources are, what type each one has, and how a
//! value written as `[parameters('x')]` or `[variables('y')]` resolves.
//!
//! Resources are gathered from the `resources` array or the symbolic-name object (languageVersion
//! 2.0), from nested `resources`, and from the inline templates of nested deployments.

use crate::jsonc::{Member, Node};

/// Where a resource sits in its container (for removal and for insertion beside it).
#[derive(Debug, Clone)]
pub struct Slot<'a> {
    /// The `resources` array or symbolic-name object.
    pub container: &'a Node,
    /// Index within it.
    pub index: usize,
    /// The symbolic name, when the container is an object.
    pub symbol: Option<String>,
}

/// One resource found in the template.
#[derive(Debug, Clone)]
pub struct Resource<'a> {
    /// The resource object.
    pub node: &'a Node,
    /// JSON Pointer of the resource.
    pub path: String,
    /// Full resource type, lower case, without trailing slash (nested types are prefixed by
    /// their parent's type).
    pub full_type: String,
    /// Where it sits.
    pub slot: Slot<'a>,
    /// The template whose `parameters()` and `variables()` its expressions read: the root, or the
    /// inline template of a nested deployment with `"scope": "inner"` (a nested template of the
    /// default outer scope reads those of the template around it).
    pub template: &'a Node,
    /// JSON Pointer of `template` (empty for the root).
    pub template_path: String,
    /// The nested deployment (inner scope) whose `parameters` give values to `template`'s
    /// parameters; None when `template` is the root.
    pub deployment: Option<&'a Node>,
    /// The nested deployment whose inline template holds the resource, whatever its scope.
    pub holder: Option<&'a Node>,
    /// Index (in the resource list) of the resource it is nested in.
    pub parent: Option<usize>,
}

impl Resource<'_> {
    /// The `apiVersion` as written (empty when missing).
    pub fn api_version(&self) -> &str {
        self.node.get_str("apiVersion").unwrap_or("")
    }
}

/// Escapes a key for a JSON Pointer.
pub fn pointer_key(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

/// Where the expressions of the resources being collected are evaluated.
#[derive(Debug, Clone)]
struct Scope<'a> {
    template: &'a Node,
    path: String,
    deployment: Option<&'a Node>,
}

/// Collects every resource of the template `root` (and of nested inline templates).
pub fn collect<'a>(root: &'a Node, out: &mut Vec<Resource<'a>>) {
    let scope = Scope {
        template: root,
        path: String::new(),
        deployment: None,
    };
    collect_template(root, "", &scope, None, out);
}

/// True when a nested deployment evaluates its inline template's expressions in that template's
/// own scope (`expressionEvaluationOptions.scope` `inner`; the default is the outer scope).
pub fn is_inner_scope(deployment: &Node) -> bool {
    deployment
        .at(&["properties", "expressionEvaluationOptions", "scope"])
        .and_then(Node::as_str)
        .is_some_and(|s| s.eq_ignore_ascii_case("inner"))
}

fn collect_template<'a>(
    template: &'a Node,
    path: &str,
    scope: &Scope<'a>,
    holder: Option<&'a Node>,
    out: &mut Vec<Resource<'a>>,
) {
    if let Some(resources) = template.get("resources") {
        collect_list(
            resources,
            &format!("{path}/resources"),
            scope,
            holder,
            None,
            out,
        );
    }
}

fn collect_list<'a>(
    container: &'a Node,
    path: &str,
    scope: &Scope<'a>,
    holder: Option<&'a Node>,
    parent: Option<usize>,
    out: &mut Vec<Resource<'a>>,
) {
    let entries: Vec<(usize, Option<String>, &Node)> =
        match (container.items(), container.members()) {
            (Some(items), _) => items
                .iter()
                .enumerate()
                .map(|(i, n)| (i, None, n))
                .collect(),
            (_, Some(members)) => members
                .iter()
                .enumerate()
                .map(|(i, m): (usize, &Member)| (i, Some(m.key.clone()), &m.value))
                .collect(),
            _ => return,
        };
    for (index, symbol, node) in entries {
        if node.members().is_none() {
            continue;
        }
        let rpath = match &symbol {
            Some(s) => format!("{path}/{}", pointer_key(s)),
            None => format!("{path}/{index}"),
        };
        let raw = node
            .get_str("type")
            .unwrap_or("")
            .trim()
            .trim_end_matches('/')
            .to_ascii_lowercase();
        let full_type = match parent {
            Some(p) if !raw.contains('.') || raw.starts_with("providers/") => {
                format!("{}/{raw}", out[p].full_type)
            }
            _ => raw,
        };
        let me = out.len();
        out.push(Resource {
            node,
            path: rpath.clone(),
            full_type: full_type.clone(),
            slot: Slot {
                container,
                index,
                symbol,
            },
            template: scope.template,
            template_path: scope.path.clone(),
            deployment: scope.deployment,
            holder,
            parent,
        });
        if let Some(children) = node.get("resources") {
            collect_list(
                children,
                &format!("{rpath}/resources"),
                scope,
                holder,
                Some(me),
                out,
            );
        }
        if full_type == "microsoft.resources/deployments" {
            if let Some(inner) = node.at(&["properties", "template"]) {
                if inner.members().is_some() {
                    let ipath = format!("{rpath}/properties/template");
                    let inner_scope = if is_inner_scope(node) {
                        Scope {
                            template: inner,
                            path: ipath.clone(),
                            deployment: Some(node),
                        }
                    } else {
                        scope.clone()
                    };
                    collect_template(inner, &ipath, &inner_scope, Some(node), out);
                }
            }
        }
    }
}

/// True when a string is an ARM expression (`[...]`, but not the `[[` escape).
pub fn is_expression(s: &str) -> bool {
    let t = s.trim();
    t.starts_with('[') && !t.starts_with("[[") && t.ends_with(']')
}

/// The inside of an expression, without the brackets.
pub fn expression_body(s: &str) -> &str {
    let t = s.trim();
    t[1..t.len() - 1].trim()
}

/// If `s` is exactly `[func('arg')]` (function name case-insensitive), the argument.
pub fn single_call<'s>(s: &'s str, func: &str) -> Option<&'s str> {
    if !is_expression(s) {
        return None;
    }
    let body = expression_body(s);
    let open = body.find('(')?;
    if !body[..open].trim().eq_ignore_ascii_case(func) || !body.ends_with(')') {
        return None;
    }
    let arg = body[open + 1..body.len() - 1].trim();
    let inner = arg.strip_prefix('\'')?.strip_suffix('\'')?;
    (!inner.contains('\'')).then_some(inner)
}

/// How a value (a name, a location) is defined.
#[derive(Debug, Clone)]
pub enum Source<'a> {
    /// Written in place.
    Literal(&'a Node),
    /// `[parameters('name')]`.
    Parameter {
        /// Parameter name.
        name: String,
        /// The declaration in the template's `parameters`.
        decl: Option<&'a Node>,
        /// The value given for it: parameters file (top level) or the nested deployment's
        /// `parameters.<name>.value`.
        value: Option<&'a Node>,
    },
    /// `[variables('name')]`.
    Variable {
        /// Variable name.
        name: String,
        /// Its value node.
        node: &'a Node,
    },
    /// Any other expression.
    Expression(&'a Node),
}

impl<'a> Source<'a> {
    /// The node that decides the value (given value, default, variable, literal), if any.
    pub fn effective(&self) -> Option<&'a Node> {
        match self {
            Source::Literal(n) | Source::Expression(n) => Some(n),
            Source::Parameter { decl, value, .. } => {
                value.or_else(|| decl.and_then(|d| d.get("defaultValue")))
            }
            Source::Variable { node, .. } => Some(node),
        }
    }

    /// The literal string value, when it is one.
    pub fn literal(&self) -> Option<&'a str> {
        let s = self.effective()?.as_str()?;
        (!is_expression(s)).then_some(s)
    }
}

/// Resolves `node` (a value inside `template`) one step: literal, parameter, variable or other.
/// `params_file` is the parameters file's `parameters` object, used for the root template only.
pub fn resolve<'a>(
    node: &'a Node,
    template: &'a Node,
    deployment: Option<&'a Node>,
    params_file: Option<&'a Node>,
) -> Source<'a> {
    let Some(s) = node.as_str() else {
        return Source::Literal(node);
    };
    if !is_expression(s) {
        return Source::Literal(node);
    }
    let env = Env {
        template,
        deployment,
        params_file,
    };
    ["parameters", "variables"]
        .iter()
        .find_map(|f| single_call(s, f).and_then(|arg| env.lookup(f, arg)))
        .unwrap_or(Source::Expression(node))
}

/// Where an expression is evaluated: the template whose `parameters()` and `variables()` it
/// reads, the nested deployment (inner scope) that gives that template's parameters their values,
/// and the parameters file's `parameters` object (the root template only).
#[derive(Debug, Clone, Copy)]
pub struct Env<'a> {
    /// The template whose parameters and variables are read.
    pub template: &'a Node,
    /// The nested deployment of inner scope around `template`, if any.
    pub deployment: Option<&'a Node>,
    /// The parameters file's `parameters` object, when `template` is the root.
    pub params_file: Option<&'a Node>,
}

impl<'a> Env<'a> {
    /// Where the expressions of `r` are evaluated (`params_file` counts for the root only).
    pub fn of(r: &Resource<'a>, params_file: Option<&'a Node>) -> Self {
        Env {
            template: r.template,
            deployment: r.deployment,
            params_file: params_file.filter(|_| r.deployment.is_none()),
        }
    }

    /// What `parameters('arg')` (`func` "parameters") or `variables('arg')` reads here: None for
    /// an undeclared variable, or one that is not a string.
    pub fn lookup(&self, func: &str, arg: &str) -> Option<Source<'a>> {
        if func == "parameters" {
            let decl = self.template.get("parameters").and_then(|ps| ps.get(arg));
            let value = match self.deployment {
                Some(d) => d.at(&["properties", "parameters", arg, "value"]),
                None => self.params_file.and_then(|f| f.at(&[arg, "value"])),
            };
            return Some(Source::Parameter {
                name: arg.to_string(),
                decl,
                value,
            });
        }
        let node = self.template.get("variables").and_then(|vs| vs.get(arg))?;
        node.as_str().is_some().then(|| Source::Variable {
            name: arg.to_string(),
            node,
        })
    }

    /// Resolves `node`, read in this environment, one step (see [`resolve`]).
    pub fn resolve(&self, node: &'a Node) -> Source<'a> {
        resolve(node, self.template, self.deployment, self.params_file)
    }
}

/// One step of a value followed through parameters and variables: how it is defined, and where
/// that definition is read.
#[derive(Debug, Clone)]
pub struct Step<'a> {
    /// How the value is defined at this step.
    pub source: Source<'a>,
    /// Where this step's expressions are evaluated.
    pub env: Env<'a>,
}

/// How many parameters and variables [`Scopes::chain`] follows before it stops.
pub const MAX_STEPS: usize = 8;

/// The environment each nested deployment of inner scope is itself evaluated in: the values it
/// gives its template's parameters are expressions of that outer environment.
#[derive(Debug, Default)]
pub struct Scopes<'a> {
    outer: Vec<(&'a Node, Env<'a>)>,
}

impl<'a> Scopes<'a> {
    /// Records the environment of every nested deployment among `res`.
    pub fn new(res: &[Resource<'a>], params_file: Option<&'a Node>) -> Self {
        let outer = res
            .iter()
            .filter(|r| r.full_type == "microsoft.resources/deployments")
            .map(|r| (r.node, Env::of(r, params_file)))
            .collect();
        Scopes { outer }
    }

    /// Follows `node` (read in `env`) through parameters and variables to where its value is
    /// defined; see [`Scopes::follow`].
    pub fn chain(&self, node: &'a Node, env: Env<'a>) -> Vec<Step<'a>> {
        self.follow(env.resolve(node), env)
    }

    /// Follows `source` (read in `env`) through parameters and variables, one [`Step`] per
    /// definition met: a variable's value, a parameter's given value (a nested deployment's value
    /// is read in the deployment's own environment) or default. Stops at a literal, at any other
    /// expression (its own last step, [`Source::Expression`]), at a parameters-file value, at a
    /// definition met before, or after [`MAX_STEPS`] steps.
    pub fn follow(&self, source: Source<'a>, env: Env<'a>) -> Vec<Step<'a>> {
        let (mut source, mut env) = (source, env);
        let mut steps: Vec<Step<'a>> = Vec::new();
        let mut seen: Vec<*const Node> = Vec::new();
        loop {
            let expr = |n: &'a Node| n.as_str().is_some_and(is_expression).then_some(n);
            let next = match &source {
                Source::Variable { node: v, .. } => expr(v).map(|v| (v, env)),
                Source::Parameter { value: Some(v), .. } => expr(v).and_then(|v| {
                    // A nested deployment's value is an expression of the deployment's scope.
                    let d = env.deployment?;
                    let outer = self.outer.iter().find(|(n, _)| std::ptr::eq(*n, d))?.1;
                    Some((v, outer))
                }),
                Source::Parameter {
                    value: None,
                    decl: Some(d),
                    ..
                } => d.get("defaultValue").and_then(expr).map(|v| (v, env)),
                _ => None,
            };
            steps.push(Step { source, env });
            match next {
                Some((n, e)) if steps.len() < MAX_STEPS && !seen.contains(&(n as *const Node)) => {
                    seen.push(n);
                    (source, env) = (e.resolve(n), e);
                }
                _ => return steps,
            }
        }
    }
}

/// The JSON Pointer of `node` (found by address) below `root`, if it is there.
pub fn pointer_of(root: &Node, node: &Node) -> Option<String> {
    if std::ptr::eq(root, node) {
        return Some(String::new());
    }
    if !(root.span.start <= node.span.start && node.span.end <= root.span.end) {
        return None;
    }
    if let Some(ms) = root.members() {
        ms.iter().find_map(|m| {
            pointer_of(&m.value, node).map(|p| format!("/{}{p}", pointer_key(&m.key)))
        })
    } else {
        root.items()?
            .iter()
            .enumerate()
            .find_map(|(i, n)| pointer_of(n, node).map(|p| format!("/{i}{p}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jsonc::parse;

    #[test]
    fn single_calls_are_recognised() {
        assert_eq!(
            single_call("[parameters('a_b')]", "parameters"),
            Some("a_b")
        );
        assert_eq!(
            single_call("[ Parameters( 'x' ) ]", "parameters"),
            Some("x")
        );
        assert_eq!(
            single_call("[concat(parameters('a'), 'b')]", "parameters"),
            None
        );
        assert_eq!(single_call("[[parameters('a')]", "parameters"), None);
    }

    #[test]
    fn nested_and_symbolic_resources_are_collected() {
        let t = parse(
            r#"{"resources": {"acr": {"type": "Microsoft.ContainerRegistry/registries", "resources": [
                {"type": "replications/"}]},
              "d": {"type": "Microsoft.Resources/deployments", "properties": {"template": {
                "resources": [{"type": "Microsoft.ContainerRegistry/registries/webhooks"}]}}}}}"#,
        )
        .unwrap();
        let mut out = Vec::new();
        collect(&t, &mut out);
        let types: Vec<_> = out
            .iter()
            .map(|r| (r.path.as_str(), r.full_type.as_str()))
            .collect();
        assert_eq!(
            types,
            vec![
                ("/resources/acr", "microsoft.containerregistry/registries"),
                (
                    "/resources/acr/resources/0",
                    "microsoft.containerregistry/registries/replications"
                ),
                ("/resources/d", "microsoft.resources/deployments"),
                (
                    "/resources/d/properties/template/resources/0",
                    "microsoft.containerregistry/registries/webhooks"
                ),
            ]
        );
        // The default (outer) scope: the nested template reads the root's parameters.
        assert!(out[3].holder.is_some() && out[3].deployment.is_none());
        assert!(std::ptr::eq(out[3].template, &t) && out[3].template_path.is_empty());
    }

    #[test]
    fn a_nested_template_of_inner_scope_reads_its_own_parameters() {
        let t = parse(
            r#"{"resources": [{"type": "Microsoft.Resources/deployments", "properties": {
                "expressionEvaluationOptions": {"scope": "Inner"}, "template": {
                "resources": [{"type": "Microsoft.ContainerRegistry/registries"}]}}}]}"#,
        )
        .unwrap();
        let mut out = Vec::new();
        collect(&t, &mut out);
        let inner = &out[1];
        assert!(inner.deployment.is_some() && inner.holder.is_some());
        assert_eq!(inner.template_path, "/resources/0/properties/template");
        assert!(std::ptr::eq(
            inner.template,
            t.at(&["resources"]).unwrap().items().unwrap()[0]
                .at(&["properties", "template"])
                .unwrap()
        ));
    }
}
